//! The delta decoder against a reference encoder written from the spec (bit by bit, no shared
//! code), the spec's own example, and every truncation of a page.

use super::decode_delta_i64;

/// A DELTA_BINARY_PACKED page of `values` as parquet-format's Encodings.md describes it, with
/// `block` values per block in `miniblocks` miniblocks; the widths of a last block's unneeded
/// miniblocks are `unused_width` (readers must accept any value there).
fn encode(values: &[i64], block: usize, miniblocks: usize, unused_width: u8) -> Vec<u8> {
    fn uleb(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn zigzag(v: i64, out: &mut Vec<u8>) {
        uleb(((v << 1) ^ (v >> 63)) as u64, out);
    }
    let mut out = Vec::new();
    uleb(block as u64, &mut out);
    uleb(miniblocks as u64, &mut out);
    uleb(values.len() as u64, &mut out);
    zigzag(values.first().copied().unwrap_or(0), &mut out);
    let deltas: Vec<i64> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let per = block / miniblocks;
    for chunk in deltas.chunks(block) {
        let min = *chunk.iter().min().unwrap();
        zigzag(min, &mut out);
        let minis: Vec<&[i64]> = chunk.chunks(per).collect();
        let widths: Vec<u32> = minis
            .iter()
            .map(|m| m.iter().map(|&d| 64 - (d.wrapping_sub(min) as u64).leading_zeros()).max().unwrap())
            .collect();
        for i in 0..miniblocks {
            out.push(widths.get(i).map_or(unused_width, |&w| w as u8));
        }
        for (m, &w) in minis.iter().zip(&widths) {
            // `per` values (zero-padded), `w` bits each, least significant bit first.
            let mut bits = vec![0u8; per * w as usize / 8];
            for (i, &d) in m.iter().enumerate() {
                let u = d.wrapping_sub(min) as u64;
                for j in 0..w as usize {
                    if u >> j & 1 == 1 {
                        let at = i * w as usize + j;
                        bits[at / 8] |= 1 << (at % 8);
                    }
                }
            }
            out.extend_from_slice(&bits);
        }
    }
    out
}

fn decode(page: &[u8], n: usize) -> Option<Vec<i64>> {
    let mut out = vec![-1]; // (appended after what is there)
    decode_delta_i64(page, n, &mut out)?;
    Some(out.split_off(1))
}

/// xorshift64*: the test's own deterministic numbers.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn the_specs_examples_decode() {
    // Encodings.md, examples 1 and 2: deltas 1 (width 0), and -2, -2, -2, 1, 1, 1, 1 (min -2,
    // width 2). Example 2 by hand: block 128, 4 miniblocks, count 8, first 7 (zigzag 14), min
    // delta -2 (zigzag 3), widths 2, 0, 0, 0, then 0,0,0,3,3,3,3 and padding in 2 bits each.
    let page = [0x80, 0x01, 0x04, 0x08, 0x0e, 0x03, 0x02, 0x00, 0x00, 0x00, 0xc0, 0x3f, 0, 0, 0, 0, 0, 0];
    assert_eq!(decode(&page, 8), Some(vec![7, 5, 3, 1, 2, 3, 4, 5]));
    assert_eq!(page.to_vec(), encode(&[7, 5, 3, 1, 2, 3, 4, 5], 128, 4, 0), "the reference encoder agrees");
    assert_eq!(decode(&encode(&[1, 2, 3, 4, 5], 128, 4, 0), 5), Some(vec![1, 2, 3, 4, 5]));
    assert_eq!(decode(&encode(&[], 128, 4, 0), 0), Some(vec![]));
    assert_eq!(decode(&encode(&[42], 128, 4, 0), 1), Some(vec![42]));
}

#[test]
fn every_width_and_block_layout_decodes_as_encoded() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for &(block, miniblocks) in &[(128, 4), (256, 2), (32, 1), (64, 2), (512, 4)] {
        for width in 0..=64u32 {
            for &len in &[1usize, 2, 31, 32, 33, 100, 129, 700] {
                // Deltas spanning `width` bits around a random base, some wrapping.
                let base = rng.next() as i64;
                let mut v = rng.next() as i64;
                let values: Vec<i64> = (0..len)
                    .map(|_| {
                        let spread = if width == 64 { rng.next() } else { rng.next() & ((1u64 << width) - 1) };
                        v = v.wrapping_add(base.wrapping_add(spread as i64));
                        v
                    })
                    .collect();
                let unused = (rng.next() % 256) as u8;
                let page = encode(&values, block, miniblocks, unused);
                assert_eq!(
                    decode(&page, len),
                    Some(values.clone()),
                    "block {block}/{miniblocks} width {width} len {len}"
                );
                // The count must be the page's.
                assert_eq!(decode(&page, len + 1), None);
            }
        }
    }
    // Timestamps as a part holds them: ascending per user, a jump back at each new user.
    let mut t = 1_435_000_000i64;
    let ts: Vec<i64> = (0..5000)
        .map(|i| {
            t = if i % 37 == 0 {
                1_435_000_000 + (rng.next() % 12_000_000) as i64
            } else {
                t + (rng.next() % 900) as i64
            };
            t
        })
        .collect();
    assert_eq!(decode(&encode(&ts, 128, 4, 0), ts.len()), Some(ts));
}

#[test]
fn a_malformed_page_is_refused_never_read_past() {
    let values: Vec<i64> = (0..300).map(|i| (i * i * 7919) % 100_003).collect();
    let page = encode(&values, 128, 4, 0);
    for cut in 0..page.len() {
        // Every strict prefix lacks bytes of some miniblock, or the header.
        assert_eq!(decode(&page[..cut], values.len()), None, "cut at {cut}");
    }
    // Headers the spec rules out: no miniblocks, miniblocks not of a multiple of 32 values, a
    // width past 64.
    for (block, miniblocks) in [(128u8, 0u8), (96, 4), (0, 1)] {
        let mut bad = page.clone();
        bad[0] = block;
        bad[1] = 0x01;
        bad[2] = miniblocks;
        assert_eq!(decode(&bad[1..], values.len()), None, "{block}/{miniblocks}");
    }
    let mut wide = encode(&[1, 5, 9], 128, 4, 0);
    let widths_at = 2 + 1 + 1 + 1 + 1; // block (2 bytes), miniblocks, count, first, min delta
    wide[widths_at] = 65;
    assert_eq!(decode(&wide, 3), None);
    // An over-long LEB128 number.
    assert_eq!(decode(&[0xff; 11], 3), None);
}
