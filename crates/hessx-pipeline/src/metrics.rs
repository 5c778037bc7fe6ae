//! Held-out metrics beyond loss and accuracy.

/// Area under the ROC curve of `scored` (score, is positive): the
/// probability that a random positive scores above a random negative, ties
/// counting one half (the Mann-Whitney U statistic over both class sizes).
/// NaN when either class is absent.
pub fn roc_auc(scored: &[(f64, bool)]) -> f64 {
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = sorted.iter().filter(|s| s.1).count() as f64;
    let negatives = sorted.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return f64::NAN;
    }
    // Sum of the positives' mid-ranks (1-based), ties sharing their average rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        let mid_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mid_rank * sorted[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition, counted pair by pair.
    #[test]
    fn auc_is_the_fraction_of_correctly_ordered_pairs() {
        let scored = [(0.1, false), (0.4, true), (0.35, false), (0.8, true), (0.4, false), (0.9, false), (0.2, true)];
        let (pos, neg): (Vec<&(f64, bool)>, Vec<&(f64, bool)>) = scored.iter().partition(|s| s.1);
        let mut wins = 0.0;
        for p in &pos {
            for n in &neg {
                wins += if p.0 > n.0 { 1.0 } else if p.0 == n.0 { 0.5 } else { 0.0 };
            }
        }
        let want = wins / (pos.len() * neg.len()) as f64;
        assert!((roc_auc(&scored) - want).abs() < 1e-12, "{} vs {want}", roc_auc(&scored));
        assert_eq!(roc_auc(&[(0.0, false), (1.0, true)]), 1.0);
        assert_eq!(roc_auc(&[(1.0, false), (0.0, true)]), 0.0);
        assert!(roc_auc(&[(0.0, true), (1.0, true)]).is_nan());
    }
}
