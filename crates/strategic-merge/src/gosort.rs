//! A port of Go's `sort.SliceStable` (insertion sort on blocks of 20, then `symMerge`).
//!
//! `strategicpatch` sorts list items with a comparator that is not a strict weak order (it
//! answers "less" whenever one of the two items is missing from the reference order), so the
//! outcome depends on the exact sequence of comparisons and swaps.  Reproducing Go's
//! algorithm step by step keeps list order identical to kube-apiserver's.  The comparator may
//! fail (Go would panic); the first failure aborts the sort and is returned.

use super::error::Error;

/// Sort `data` stably with Go's algorithm and the (possibly inconsistent) `less`.
pub(crate) fn slice_stable<T, F>(data: &mut [T], less: &mut F) -> Result<(), Error>
where
    F: FnMut(&T, &T) -> Result<bool, Error>,
{
    let n = data.len();
    let mut block_size = 20usize;
    let (mut a, mut b) = (0usize, block_size);
    while b <= n {
        insertion_sort(data, a, b, less)?;
        a = b;
        b += block_size;
    }
    insertion_sort(data, a, n, less)?;
    while block_size < n {
        a = 0;
        b = 2 * block_size;
        while b <= n {
            sym_merge(data, a, a + block_size, b, less)?;
            a = b;
            b += 2 * block_size;
        }
        let m = a + block_size;
        if m < n {
            sym_merge(data, a, m, n, less)?;
        }
        block_size *= 2;
    }
    Ok(())
}

fn lt<T, F>(data: &[T], i: usize, j: usize, less: &mut F) -> Result<bool, Error>
where
    F: FnMut(&T, &T) -> Result<bool, Error>,
{
    match (data.get(i), data.get(j)) {
        (Some(x), Some(y)) => less(x, y),
        _ => Ok(false),
    }
}

fn insertion_sort<T, F>(data: &mut [T], a: usize, b: usize, less: &mut F) -> Result<(), Error>
where
    F: FnMut(&T, &T) -> Result<bool, Error>,
{
    let mut i = a + 1;
    while i < b {
        let mut j = i;
        while j > a && lt(data, j, j - 1, less)? {
            data.swap(j, j - 1);
            j -= 1;
        }
        i += 1;
    }
    Ok(())
}

fn sym_merge<T, F>(data: &mut [T], a: usize, m: usize, b: usize, less: &mut F) -> Result<(), Error>
where
    F: FnMut(&T, &T) -> Result<bool, Error>,
{
    if m - a == 1 {
        return insert_first(data, a, m, b, less);
    }
    if b - m == 1 {
        return insert_last(data, a, m, less);
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !lt(data, p - c, c, less)? {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        rotate(data, start, m, end);
    }
    if a < start && start < mid {
        sym_merge(data, a, start, mid, less)?;
    }
    if mid < end && end < b {
        sym_merge(data, mid, end, b, less)?;
    }
    Ok(())
}

/// `symMerge`'s case of a one-element `data[a]`: binary-search its place in
/// `data[m..b]` and shift it there.
fn insert_first<T, F>(
    data: &mut [T],
    a: usize,
    m: usize,
    b: usize,
    less: &mut F,
) -> Result<(), Error>
where
    F: FnMut(&T, &T) -> Result<bool, Error>,
{
    let (mut i, mut j) = (m, b);
    while i < j {
        let h = (i + j) / 2;
        if lt(data, h, a, less)? {
            i = h + 1;
        } else {
            j = h;
        }
    }
    let mut k = a;
    while k + 1 < i {
        data.swap(k, k + 1);
        k += 1;
    }
    Ok(())
}

/// `symMerge`'s case of a one-element `data[m]` (with `m + 1 == b`):
/// binary-search its place in `data[a..m]` and shift it there.
fn insert_last<T, F>(data: &mut [T], a: usize, m: usize, less: &mut F) -> Result<(), Error>
where
    F: FnMut(&T, &T) -> Result<bool, Error>,
{
    let (mut i, mut j) = (a, m);
    while i < j {
        let h = (i + j) / 2;
        if !lt(data, m, h, less)? {
            i = h + 1;
        } else {
            j = h;
        }
    }
    let mut k = m;
    while k > i {
        data.swap(k, k - 1);
        k -= 1;
    }
    Ok(())
}

fn swap_range<T>(data: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        data.swap(a + i, b + i);
    }
}

fn rotate<T>(data: &mut [T], a: usize, m: usize, b: usize) {
    let mut i = m - a;
    let mut j = b - m;
    while i != j {
        if i > j {
            swap_range(data, m - i, m, j);
            i -= j;
        } else {
            swap_range(data, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(data, m - i, m, i);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! Go stable sort checks.

    use super::*;

    #[test]
    fn sorts_stably_with_a_consistent_order() {
        let mut v: Vec<(u32, usize)> = (0..200).map(|i| ((i * 7919 % 13) as u32, i)).collect();
        slice_stable(&mut v, &mut |a: &(u32, usize), b: &(u32, usize)| {
            Ok(a.0 < b.0)
        })
        .unwrap();
        for w in v.windows(2) {
            assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1));
        }
    }

    #[test]
    fn comparator_errors_propagate() {
        let mut v = vec![3, 2, 1];
        let r = slice_stable(&mut v, &mut |_: &i32, _: &i32| Err(Error::NoElements));
        assert_eq!(r, Err(Error::NoElements));
    }

    #[test]
    fn always_true_comparator_matches_go() {
        // Go: sort.SliceStable(s, func(i, j int) bool { return true }) on [0 1 2 3 4]
        // reverses it through insertion sort.
        let mut v = vec![0, 1, 2, 3, 4];
        slice_stable(&mut v, &mut |_: &i32, _: &i32| Ok(true)).unwrap();
        assert_eq!(v, vec![4, 3, 2, 1, 0]);
    }

    #[test]
    fn arbitrary_comparators_never_go_out_of_bounds() {
        // A tiny LCG stands in for Go's inconsistent comparator.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in 0..300usize {
            let mut v: Vec<usize> = (0..n).collect();
            slice_stable(&mut v, &mut |_: &usize, _: &usize| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                Ok(seed >> 63 == 1)
            })
            .unwrap();
            let mut sorted = v.clone();
            sorted.sort_unstable();
            assert_eq!(
                sorted,
                (0..n).collect::<Vec<_>>(),
                "not a permutation for n={n}"
            );
        }
    }
}
