//! Parquet's DELTA_BINARY_PACKED encoding of INT64 values, decoded straight into the caller's
//! buffer (how `frocket dataprep` writes timestamps: `dataprep/src/part_writer.rs`).
//!
//! Why not polars' decoder: its delta decoder is internal to `polars-parquet` (only reachable
//! through its array decoding, which builds an array the reader would copy again), and the
//! timestamps of a timeframe query are decoded for every row of a part (module docs of
//! `super`). The format (parquet-format's Encodings.md): a header — block size in values,
//! miniblocks per block, the total count, the first value (zigzag) — then blocks, each a
//! minimum delta (zigzag), one bit width per miniblock and the miniblocks, each the block's
//! share of deltas minus the minimum, bit-packed least significant bit first (a multiple of 32
//! values, so every 32 values take exactly `4 × width` bytes). Sums wrap (two's complement), as
//! the encoding specifies. The last block's miniblocks past the last value have widths (any
//! value) but no bytes.
//!
//! Invariant: the values are the page's, as any conforming reader decodes them (tests: pages of
//! a reference encoder written from the spec, bit by bit, at every bit width 0–64, five block
//! layouts, wrapping deltas, partial last blocks, arbitrary widths of unused miniblocks; the
//! spec's example byte for byte; end to end, files of polars' encoder read as polars' own
//! decoder reads them, `super::tests`), and a malformed page gives `None`, never a panic or a
//! read past its bytes (tests: every truncation of a page, bad headers, a width past 64).

use polars_parquet::parquet::encoding::bitpacked::Unpackable;

/// Appends the values of a DELTA_BINARY_PACKED page holding `n` INT64 values (no nulls) to
/// `out`; `None` (part of them possibly appended) when the page is malformed or its count is not
/// `n`.
pub(super) fn decode_delta_i64(mut data: &[u8], n: usize, out: &mut Vec<i64>) -> Option<()> {
    let block = usize::try_from(uleb128(&mut data)?).ok()?;
    let miniblocks = usize::try_from(uleb128(&mut data)?).ok()?;
    let total = usize::try_from(uleb128(&mut data)?).ok()?;
    let mut value = zigzag(&mut data)?;
    if total != n || miniblocks == 0 || block == 0 || block % miniblocks != 0 || (block / miniblocks) % 32 != 0 {
        return None;
    }
    if n == 0 {
        return Some(());
    }
    let per_miniblock = block / miniblocks;
    out.reserve(n);
    out.push(value);
    let mut left = n - 1;
    while left > 0 {
        let min_delta = zigzag(&mut data)?;
        let (widths, rest) = data.split_at_checked(miniblocks)?;
        data = rest;
        for &width in widths {
            if left == 0 {
                break;
            }
            let width = usize::from(width);
            if width > 64 {
                return None;
            }
            let bytes = per_miniblock / 32 * 4 * width;
            if data.len() < bytes {
                return None;
            }
            let take = left.min(per_miniblock);
            for g in (0..take).step_by(32) {
                let values = (take - g).min(32);
                value = unpack_32(&data[g / 32 * 4 * width..], width, values, min_delta, value, out);
            }
            data = &data[bytes..];
            left -= take;
        }
    }
    Some(())
}

/// Appends the running sums of up to 32 deltas (`min_delta` plus each `width`-bit value packed
/// at the start of `packed`, which holds at least `4 × width` bytes) to `out`, starting from
/// `value`; the last sum.
///
/// Widths up to 32 (every miniblock of timestamps a few seconds to days apart) are unpacked by
/// polars-parquet's bit unpacker, one routine per width with every shift a constant; wider ones
/// by [`sums_from`]. On heavy-tailed q9 (Parquet-resident, AMD EPYC) the decoder went from 19%
/// of the query's CPU to 12% (with the unpacker), the query's median 72–78 → 64–69 ms
/// (docs/benchmarks.md, twelfth session).
#[inline]
fn unpack_32(packed: &[u8], width: usize, values: usize, min_delta: i64, value: i64, out: &mut Vec<i64>) -> i64 {
    if width <= 32 {
        let mut deltas = [0u32; 32];
        // `packed` holds the 4 × width bytes the unpacker reads (checked by the caller).
        <u32 as Unpackable>::unpack(packed, width, &mut deltas);
        let mut v = value;
        out.extend(deltas[..values].iter().map(|&d| {
            v = v.wrapping_add(min_delta).wrapping_add(i64::from(d));
            v
        }));
        return v;
    }
    let mut sums = [0i64; 32];
    let last = match packed.get(..WINDOW).and_then(|w| <&[u8; WINDOW]>::try_from(w).ok()) {
        Some(window) => sums_from(window, width, min_delta, value, &mut sums[..values]),
        // The last values of a page's last miniblock: zero-padded past its bytes (only
        // here, not for every 32 values).
        None => {
            let mut padded = [0u8; WINDOW];
            let n = (4 * width).min(packed.len());
            padded[..n].copy_from_slice(&packed[..n]);
            sums_from(&padded, width, min_delta, value, &mut sums[..values])
        }
    };
    out.extend_from_slice(&sums[..values]);
    last
}

/// The bytes each value is read from: 16 at its first byte, so a window of a miniblock's 32
/// values is its `4 × width` bytes (at most 256) and 16 more.
const WINDOW: usize = 4 * 64 + 16;

/// Fills `sums` with the running sums of `width`-bit deltas (used for 33–64; any of 1–64
/// decodes) packed in `window`, starting from `value`; the last sum.
#[inline]
fn sums_from(window: &[u8; WINDOW], width: usize, min_delta: i64, mut value: i64, sums: &mut [i64]) -> i64 {
    let mask = u64::MAX >> (64 - width);
    for (i, s) in sums.iter_mut().enumerate() {
        let bit = i * width;
        let at = (bit / 8).min(WINDOW - 16);
        let word = u128::from_le_bytes(window[at..at + 16].try_into().unwrap_or_default());
        let delta = ((word >> (bit % 8)) as u64 & mask) as i64;
        value = value.wrapping_add(min_delta).wrapping_add(delta);
        *s = value;
    }
    value
}

/// An unsigned LEB128 number (at most 10 bytes), advancing `data` past it.
fn uleb128(data: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = data.split_first()?;
        *data = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A zigzag-encoded LEB128 number.
fn zigzag(data: &mut &[u8]) -> Option<i64> {
    let u = uleb128(data)?;
    Some((u >> 1) as i64 ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests;
