use crate::layout::Layout;
use alloc::vec;
use alloc::vec::Vec;

/// Iterator that yields linear indices for strided tensor access.
///
/// Handles non-contiguous tensors (including those with negative strides from flip)
/// by computing the correct storage index for each logical element position.
///
/// hessx patch: size-1 dims are dropped and adjacent dims that step through
/// storage as one are merged (the logical row-major order is unchanged), and
/// the innermost dim is walked with one add per element; the odometer over the
/// outer dims runs once per row. Upstream walked every dim's odometer through
/// the layout for each element, which made broadcast and transposed binary ops
/// (the backward of `sum_dim` and `swap_dims`) the largest cost of a
/// Transformer's double backward.
pub struct StridedIter<'a> {
    /// Current storage index (signed to handle negative strides)
    storage_index: isize,
    /// Position in the outer (all but the innermost collapsed) dims.
    multi_index: Vec<usize>,
    /// Collapsed shape and strides; the last entry is the inner dim.
    shape: Vec<usize>,
    strides: Vec<isize>,
    inner_len: usize,
    inner_stride: isize,
    inner_pos: usize,
    remaining: usize,
    _layout: core::marker::PhantomData<&'a Layout>,
}

impl<'a> StridedIter<'a> {
    /// Create a new strided iterator for the given layout.
    pub fn new(layout: &'a Layout) -> Self {
        let (shape, strides) = collapse_dims(layout);
        let (inner_len, inner_stride) = match (shape.last(), strides.last()) {
            (Some(&n), Some(&s)) => (n, s),
            _ => (1, 0),
        };
        let outer = shape.len().saturating_sub(1);
        Self {
            storage_index: layout.start_offset() as isize,
            multi_index: vec![0; outer],
            shape,
            strides,
            inner_len,
            inner_stride,
            inner_pos: 0,
            remaining: layout.num_elements(),
            _layout: core::marker::PhantomData,
        }
    }
}

/// Shape and strides of `layout` without size-1 dims and with adjacent dims
/// merged where they step through storage as one ([`collapse_for_copy`]'s
/// rule, which keeps the visiting order); layouts of a rank it does not
/// collapse are returned as they are.
///
/// [`collapse_for_copy`]: crate::tensor::collapse_for_copy
fn collapse_dims(layout: &Layout) -> (Vec<usize>, Vec<isize>) {
    let (dims, strides) = (layout.shape(), layout.strides());
    if strides.len() > crate::tensor::COLLAPSE_MAX_RANK {
        return (dims.to_vec(), strides.to_vec());
    }
    let collapsed = crate::tensor::collapse_for_copy(dims, strides);
    let (shape, strides) = collapsed.as_slices();
    (shape.to_vec(), strides.to_vec())
}

/// `op` over two same-shape strided views, in row-major order: the joint
/// shape is collapsed as in [`StridedIter`] (a dim merges only where it does
/// for both views), and each innermost row is one tight loop with slice
/// fast paths for the contiguous and broadcast (stride 0) cases, which the
/// compiler vectorises. hessx patch; upstream zipped two `StridedIter`s.
pub fn zip_map_strided<E: Copy, R>(
    lhs: &[E],
    lhs_layout: &Layout,
    rhs: &[E],
    rhs_layout: &Layout,
    op: impl Fn(E, E) -> R,
) -> Vec<R> {
    let n = lhs_layout.num_elements();
    debug_assert_eq!(n, rhs_layout.num_elements());
    let dims = lhs_layout.shape();
    let (ls, rs) = (lhs_layout.strides(), rhs_layout.strides());
    let mut shape: Vec<usize> = Vec::with_capacity(ls.len());
    let mut lst: Vec<isize> = Vec::with_capacity(ls.len());
    let mut rst: Vec<isize> = Vec::with_capacity(ls.len());
    for d in 0..ls.len() {
        let k = dims[d];
        if k == 1 {
            continue;
        }
        if let (Some(last_k), Some(&last_l), Some(&last_r)) = (shape.last_mut(), lst.last(), rst.last())
            && last_l == ls[d] * k as isize
            && last_r == rs[d] * k as isize
        {
            *last_k *= k;
            *lst.last_mut().unwrap() = ls[d];
            *rst.last_mut().unwrap() = rs[d];
            continue;
        }
        shape.push(k);
        lst.push(ls[d]);
        rst.push(rs[d]);
    }
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let (inner, il, ir) = match shape.len() {
        0 => (1, 0, 0),
        k => (shape[k - 1], lst[k - 1], rst[k - 1]),
    };
    let outer = shape.len().saturating_sub(1);
    let mut index = vec![0usize; outer];
    let mut li = lhs_layout.start_offset() as isize;
    let mut ri = rhs_layout.start_offset() as isize;
    for _ in 0..n / inner {
        let (l0, r0) = (li as usize, ri as usize);
        match (il, ir) {
            (1, 1) => out.extend(lhs[l0..l0 + inner].iter().zip(&rhs[r0..r0 + inner]).map(|(&a, &b)| op(a, b))),
            (1, 0) => {
                let b = rhs[r0];
                out.extend(lhs[l0..l0 + inner].iter().map(|&a| op(a, b)));
            }
            (0, 1) => {
                let a = lhs[l0];
                out.extend(rhs[r0..r0 + inner].iter().map(|&b| op(a, b)));
            }
            _ => out.extend((0..inner as isize).map(|j| op(lhs[(li + j * il) as usize], rhs[(ri + j * ir) as usize]))),
        }
        for d in (0..outer).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                li += lst[d];
                ri += rst[d];
                break;
            }
            index[d] = 0;
            li -= (shape[d] as isize - 1) * lst[d];
            ri -= (shape[d] as isize - 1) * rst[d];
        }
    }
    out
}

impl Iterator for StridedIter<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }

        debug_assert!(
            self.storage_index >= 0,
            "StridedIter: negative storage index"
        );
        let idx = self.storage_index as usize;
        self.remaining -= 1;

        self.inner_pos += 1;
        if self.inner_pos < self.inner_len {
            self.storage_index += self.inner_stride;
            return Some(idx);
        }
        // End of a row: rewind the inner dim, advance the outer odometer.
        self.inner_pos = 0;
        self.storage_index -= (self.inner_len as isize - 1) * self.inner_stride;
        for d in (0..self.multi_index.len()).rev() {
            self.multi_index[d] += 1;
            if self.multi_index[d] < self.shape[d] {
                self.storage_index += self.strides[d];
                break;
            }
            self.multi_index[d] = 0;
            self.storage_index -= (self.shape[d] as isize - 1) * self.strides[d];
        }

        Some(idx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for StridedIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use burn_std::Shape;

    #[test]
    fn test_contiguous_iteration() {
        let layout = Layout::contiguous(Shape::from(vec![2, 3]));
        let indices: Vec<_> = StridedIter::new(&layout).collect();
        assert_eq!(indices, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn test_transposed_iteration() {
        // Original: [[0, 1, 2], [3, 4, 5]] (shape [2, 3], strides [3, 1])
        // Transposed: [[0, 3], [1, 4], [2, 5]] (shape [3, 2], strides [1, 3])
        let layout = Layout::contiguous(Shape::from(vec![2, 3])).transpose(0, 1);
        let indices: Vec<_> = StridedIter::new(&layout).collect();
        assert_eq!(indices, vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn test_collapsed_matches_odometer_order() {
        // [2, 1, 3, 4] permuted to [4, 2, 1, 3], then a broadcast-like stride-0 view.
        let base = Layout::contiguous(Shape::from(vec![2, 1, 3, 4])).permute(&[3, 0, 1, 2]);
        let mut expected = Vec::new();
        for a in 0..4 {
            for b in 0..2 {
                for c in 0..3 {
                    expected.push(a + b * 12 + c * 4);
                }
            }
        }
        assert_eq!(StridedIter::new(&base).collect::<Vec<_>>(), expected);
        let bcast = Layout::new(Shape::from(vec![2, 3, 2]), vec![2, 0, 1], 1);
        let got: Vec<_> = StridedIter::new(&bcast).collect();
        assert_eq!(got, vec![1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4]);
        let scalar = Layout::contiguous(Shape::from(Vec::<usize>::new()));
        assert_eq!(StridedIter::new(&scalar).collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn zip_map_strided_matches_zipped_iterators() {
        let data: Vec<f32> = (0..48).map(|i| i as f32).collect();
        let layouts = [
            Layout::contiguous(Shape::from(vec![2, 3, 8])),
            Layout::contiguous(Shape::from(vec![2, 8, 3])).transpose(1, 2),
            Layout::new(Shape::from(vec![2, 3, 8]), vec![8, 0, 1], 4),
            Layout::new(Shape::from(vec![2, 3, 8]), vec![3, 1, 0], 0),
            Layout::new(Shape::from(vec![2, 3, 8]), vec![0, 0, 0], 7),
            Layout::contiguous(Shape::from(vec![2, 3, 8])).flip(&[2]),
        ];
        for l in &layouts {
            for r in &layouts {
                let want: Vec<f32> = StridedIter::new(l)
                    .zip(StridedIter::new(r))
                    .map(|(i, j)| data[i] * 100.0 + data[j])
                    .collect();
                assert_eq!(zip_map_strided(&data, l, &data, r, |a, b| a * 100.0 + b), want);
            }
        }
    }

    #[test]
    fn test_narrowed_iteration() {
        // Original: [[0, 1, 2, 3], [4, 5, 6, 7]] (shape [2, 4])
        // Narrowed dim=1, start=1, len=2: [[1, 2], [5, 6]]
        let layout = Layout::contiguous(Shape::from(vec![2, 4])).narrow(1, 1, 2);
        let indices: Vec<_> = StridedIter::new(&layout).collect();
        assert_eq!(indices, vec![1, 2, 5, 6]);
    }
}
