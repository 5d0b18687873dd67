//! Dictionary codes of a string column, as narrow as its dictionary allows: one byte per row
//! while it has at most 255 values (event names, categories), two up to 65,535, else four.
//! Narrow codes are a quarter (or half) of the memory a cold load must fault in and the memory
//! every string filter scans. The width's maximum value marks a null row.

/// One width of code.
pub(crate) trait Code: Copy + PartialEq + Send + Sync + 'static {
    const NULL: Self;
    /// Codes `0..LIMIT` are representable (the null marker excluded).
    const LIMIT: usize;
    fn index(self) -> usize;
    /// `c` must be below `LIMIT` or be [`crate::frame::NULL_CODE`].
    fn narrow(c: u32) -> Self;

    #[inline]
    fn is_null(self) -> bool {
        self == Self::NULL
    }
}

macro_rules! code_width {
    ($t:ty) => {
        impl Code for $t {
            const NULL: Self = <$t>::MAX;
            const LIMIT: usize = <$t>::MAX as usize;
            #[inline]
            fn index(self) -> usize {
                self as usize
            }
            #[inline]
            fn narrow(c: u32) -> Self {
                if c == u32::MAX { Self::NULL } else { c as $t }
            }
        }
    };
}
code_width!(u8);
code_width!(u16);
code_width!(u32);

/// Codes of a column's rows, in one of three widths.
#[derive(Debug, Clone)]
pub enum Codes {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

/// Runs `$body` with `$c` bound to the codes' vector, whatever its width.
macro_rules! with_codes {
    ($codes:expr, $c:ident => $body:expr) => {
        match $codes {
            $crate::codes::Codes::U8($c) => $body,
            $crate::codes::Codes::U16($c) => $body,
            $crate::codes::Codes::U32($c) => $body,
        }
    };
}
pub(crate) use with_codes;

impl Default for Codes {
    fn default() -> Self {
        Codes::U8(Vec::new())
    }
}

impl Codes {
    /// Empty codes (one byte wide) with room for `rows`.
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Codes::U8(Vec::with_capacity(rows))
    }

    /// Codes of a dictionary of `dict_len` values (`NULL_CODE` for nulls), narrowed.
    pub(crate) fn from_u32(codes: Vec<u32>, dict_len: usize) -> Self {
        let mut out = Codes::default();
        out.fit(dict_len, codes.len());
        match out {
            Codes::U32(_) => Codes::U32(codes),
            mut narrow => {
                narrow.extend(codes.iter().copied());
                narrow
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        with_codes!(self, c => c.len())
    }

    pub(crate) fn bytes(&self) -> usize {
        with_codes!(self, c => std::mem::size_of_val(c.as_slice()))
    }

    /// Row `i`'s code, `None` for a null.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<u32> {
        with_codes!(self, c => (!c[i].is_null()).then(|| c[i].index() as u32))
    }

    /// Every row's code as u32 (`NULL_CODE` for nulls).
    pub(crate) fn to_u32(&self) -> Vec<u32> {
        with_codes!(self, c => c.iter().map(|&k| if k.is_null() { u32::MAX } else { k.index() as u32 }).collect())
    }

    pub(crate) fn reserve_exact(&mut self, more: usize) {
        with_codes!(self, c => c.reserve_exact(more))
    }

    /// Widens the codes (copying them once) when a dictionary of `dict_len` values does not fit
    /// the current width; `rows` is the capacity the wider vector gets.
    pub(crate) fn fit(&mut self, dict_len: usize, rows: usize) {
        fn widen<A: Code, B: Code>(from: &[A], rows: usize) -> Vec<B> {
            let mut v = Vec::with_capacity(rows.max(from.len()));
            v.extend(from.iter().map(|&k| if k.is_null() { B::NULL } else { B::narrow(k.index() as u32) }));
            v
        }
        let capacity = rows.max(with_codes!(self, c => c.capacity()));
        *self = match std::mem::take(self) {
            Codes::U8(c) if dict_len > u8::LIMIT && dict_len <= u16::LIMIT => Codes::U16(widen(&c, capacity)),
            Codes::U8(c) if dict_len > u16::LIMIT => Codes::U32(widen(&c, capacity)),
            Codes::U16(c) if dict_len > u16::LIMIT => Codes::U32(widen(&c, capacity)),
            same => same,
        };
    }

    /// Appends codes given as u32 (`NULL_CODE` for nulls); they must fit the width ([`fit`]).
    ///
    /// [`fit`]: Codes::fit
    #[inline]
    pub(crate) fn extend(&mut self, codes: impl Iterator<Item = u32>) {
        match self {
            Codes::U8(c) => c.extend(codes.map(u8::narrow)),
            Codes::U16(c) => c.extend(codes.map(u16::narrow)),
            Codes::U32(c) => c.extend(codes.map(u32::narrow)),
        }
    }

    /// Drops the rows past `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        with_codes!(self, c => c.truncate(len))
    }

    /// The codes of rows `perm[0], perm[1], ...`.
    pub(crate) fn gather(&self, perm: &[u32]) -> Codes {
        fn take<T: Copy>(v: &[T], perm: &[u32]) -> Vec<T> {
            perm.iter().map(|&i| v[i as usize]).collect()
        }
        match self {
            Codes::U8(c) => Codes::U8(take(c, perm)),
            Codes::U16(c) => Codes::U16(take(c, perm)),
            Codes::U32(c) => Codes::U32(take(c, perm)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_narrow_widen_and_keep_nulls() {
        let mut c = Codes::with_capacity(4);
        c.fit(3, 4);
        c.extend([0, 2, u32::MAX, 1].into_iter());
        assert!(matches!(c, Codes::U8(_)));
        assert_eq!(c.bytes(), 4);
        c.fit(255, 8);
        assert!(matches!(c, Codes::U8(_)), "255 values fit in a byte (254 + null marker)");
        c.fit(256, 8);
        assert!(matches!(c, Codes::U16(_)));
        c.extend([255, u32::MAX].into_iter());
        c.fit(70_000, 8);
        assert!(matches!(c, Codes::U32(_)));
        c.extend([69_999].into_iter());
        assert_eq!(c.to_u32(), vec![0, 2, u32::MAX, 1, 255, u32::MAX, 69_999]);
        assert_eq!((c.get(1), c.get(2), c.get(6)), (Some(2), None, Some(69_999)));
        assert_eq!(c.gather(&[6, 2, 0]).to_u32(), vec![69_999, u32::MAX, 0]);
        let n = Codes::from_u32(vec![3, u32::MAX, 300], 301);
        assert!(matches!(n, Codes::U16(_)));
        assert_eq!(n.to_u32(), vec![3, u32::MAX, 300]);
        assert!(matches!(Codes::from_u32(vec![7], 8), Codes::U8(_)));
    }
}
