//! The rows a query's timeframe keeps (timeframe pushdown, `super` module docs), as runs of
//! `(first row, rows)`: walking them beside a column chunk's pages and stretches ([`Kept`]),
//! gathering kept values, and reading a kept row's dictionary index straight from its
//! bit-packed stretch ([`kept_indices`]).

use polars::prelude::{BooleanChunked, NewChunkedArray, PlSmallStr};
use polars_arrow::array::{DictionaryArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::ArrowDataType;
use polars_parquet::parquet::encoding::bitpacked::Decoder;

/// The rows in kept runs (`(first row, rows)`).
pub(super) fn kept_rows(keep: &[(u32, u32)]) -> usize {
    keep.iter().map(|&(_, n)| n as usize).sum()
}

/// Appends `values`' rows in `keep` (runs of `(first row, rows)`; `None`: every row) to `out`.
pub(super) fn gather<T: Copy>(values: &[T], keep: Option<&[(u32, u32)]>, out: &mut Vec<T>) {
    match keep {
        None => out.extend_from_slice(values),
        Some(runs) => {
            for &(s, n) in runs {
                out.extend_from_slice(&values[s as usize..(s + n) as usize]);
            }
        }
    }
}

/// The rows in `keep` of dictionary arrays covering consecutive rows: the same dictionary,
/// the kept keys (and their validity). `None` if an array cannot be rebuilt (the caller then
/// decodes the chunk as polars does).
pub(super) fn keep_dictionary_rows(
    arrays: &[DictionaryArray<u32>],
    keep: &[(u32, u32)],
) -> Option<Vec<DictionaryArray<u32>>> {
    let mut out = Vec::with_capacity(arrays.len());
    let (mut kept_runs, mut at) = (Kept::new(keep), 0);
    for arr in arrays {
        // The kept runs within this array, relative to it.
        let mut local: Vec<(u32, u32)> = Vec::new();
        kept_runs.within(at, arr.len(), |a, b| local.push((a as u32, (b - a) as u32)));
        at += arr.len();
        let keys = arr.keys();
        let mut kept = Vec::with_capacity(kept_rows(&local));
        gather(keys.values(), Some(&local), &mut kept);
        let validity = keys
            .validity()
            .filter(|v| v.unset_bits() > 0)
            .map(|v| local.iter().flat_map(|&(s, n)| (s..s + n).map(|i| v.get_bit(i as usize))).collect::<Bitmap>());
        let keys = PrimitiveArray::new(ArrowDataType::UInt32, kept.into(), validity);
        out.push(DictionaryArray::try_new(arr.dtype().clone(), keys, arr.values().clone()).ok()?);
    }
    Some(out)
}

/// `keep`'s runs as a boolean mask over `n` rows (for polars' `filter`).
pub(super) fn keep_mask(keep: &[(u32, u32)], n: usize) -> BooleanChunked {
    let mut mask = vec![false; n];
    // (Clamped: a column shorter than its row group keeps fewer rows, and the frame builder
    // then refuses the chunk's unequal columns.)
    for &(s, len) in keep {
        mask[(s as usize).min(n)..((s + len) as usize).min(n)].fill(true);
    }
    BooleanChunked::from_slice(PlSmallStr::EMPTY, &mask)
}

/// A walk over the kept rows' runs (`(first row, rows)`, in order, disjoint) alongside
/// consecutive stretches of a row group's rows (pages, runs, bit-packed chunks).
#[derive(Clone)]
pub(super) struct Kept<'a> {
    runs: &'a [(u32, u32)],
    at: usize,
}

impl<'a> Kept<'a> {
    pub(super) fn new(runs: &'a [(u32, u32)]) -> Self {
        Kept { runs, at: 0 }
    }

    /// Calls `f(a, b)` for each kept stretch of rows `start..start + len`, as offsets from
    /// `start` (`a < b`); stretches must be asked for in row order.
    #[inline]
    pub(super) fn within(&mut self, start: usize, len: usize, mut f: impl FnMut(usize, usize)) {
        let end = start + len;
        while let Some(&(s, n)) = self.runs.get(self.at) {
            let (s, e) = (s as usize, (s + n) as usize);
            if s >= end {
                break;
            }
            let (a, b) = (s.max(start), e.min(end));
            if a < b {
                f(a - start, b - start);
            }
            if e > end {
                break;
            }
            self.at += 1;
        }
    }

    /// The kept rows among `start..start + len`.
    pub(super) fn count(&mut self, start: usize, len: usize) -> usize {
        let mut k = 0;
        self.within(start, len, |a, b| k += b - a);
        k
    }

    /// Whether every kept run lies within the rows walked so far.
    pub(super) fn done(&self) -> bool {
        self.at >= self.runs.len()
    }
}

/// The dictionary indices of a bit-packed stretch's kept rows (the stretch starts at row
/// `start`), appended to `out` in row order. Few kept rows (under a quarter): each read
/// straight from the packed bits (a timeframe keeping a tenth of a bounce-heavy part's rows
/// leaves 90% of its group column's indices unpacked; docs/benchmarks.md); else the stretch
/// unpacked a block at a time and the kept rows moved to the front.
pub(super) fn kept_indices(
    unpack: Decoder<'_, u32>,
    start: usize,
    kept: &mut Kept<'_>,
    out: &mut Vec<u32>,
) -> Option<()> {
    let n = unpack.len();
    let rows = kept.clone().count(start, n);
    if rows * 4 < n {
        let (bits, packed) = (unpack.num_bits(), unpack.as_slice());
        // (The decoder checked that `packed` holds `n * bits` bits.)
        if bits > 32 || packed.len() * 8 < n * bits {
            return None;
        }
        out.reserve(rows);
        kept.within(start, n, |a, b| out.extend((a..b).map(|i| bit_packed_at(packed, bits, i))));
    } else {
        unpack.collect_into(out);
        let mut to = 0;
        kept.within(start, n, |a, b| {
            out.copy_within(a..b, to);
            to += b - a;
        });
        out.truncate(to);
    }
    Some(())
}

/// The `i`-th value of `bits` bits (at most 32) packed least significant bit first, as
/// Parquet bit-packs (the caller checks that `packed` holds it).
#[inline]
pub(super) fn bit_packed_at(packed: &[u8], bits: usize, i: usize) -> u32 {
    let first = i * bits;
    let byte = first / 8;
    // Up to 8 bytes from `byte` (fewer at the end of the stretch): the value lies within them
    // (at most 7 + 32 bits).
    let mut word = [0u8; 8];
    let avail = packed.len().saturating_sub(byte).min(8);
    word[..avail].copy_from_slice(&packed[byte..byte + avail]);
    let v = u64::from_le_bytes(word) >> (first % 8);
    (v & ((1u64 << bits) - 1)) as u32
}
