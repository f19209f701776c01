//! Splitting events into request-sized batches by count and uncompressed bytes.

use super::framing::Framing;

/// The batches for a list of events, by index, plus the events too large to send at all.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchPlan {
    /// Each batch lists indices into the input, in input order.
    pub batches: Vec<Vec<usize>>,
    /// Events that alone exceed the byte limit; they go to the dead letters.
    pub oversized: Vec<usize>,
}

/// Groups events of the given JSON lengths into batches of at most `max_events` events and
/// `max_bytes` body bytes (framing included), keeping order.
pub fn plan(lens: &[usize], format: Framing, max_events: usize, max_bytes: usize) -> BatchPlan {
    let mut plan = BatchPlan::default();
    let mut current: Vec<usize> = Vec::new();
    let mut current_bytes = format.per_batch_overhead();
    for (i, &len) in lens.iter().enumerate() {
        let cost = len + format.per_event_overhead();
        if format.per_batch_overhead() + cost > max_bytes {
            plan.oversized.push(i);
            continue;
        }
        if !current.is_empty() && (current.len() >= max_events || current_bytes + cost > max_bytes)
        {
            plan.batches.push(std::mem::take(&mut current));
            current_bytes = format.per_batch_overhead();
        }
        current.push(i);
        current_bytes += cost;
    }
    if !current.is_empty() {
        plan.batches.push(current);
    }
    plan
}

/// As [`plan`], but no batch mixes events of different `groups` (one key per event): each
/// group is planned on its own, groups in order of first appearance, order kept within each.
pub fn plan_grouped<K: Eq + std::hash::Hash>(
    lens: &[usize],
    groups: &[K],
    format: Framing,
    max_events: usize,
    max_bytes: usize,
) -> BatchPlan {
    debug_assert_eq!(lens.len(), groups.len(), "one group key per event");
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut slot: std::collections::HashMap<&K, usize> = std::collections::HashMap::new();
    for (i, key) in groups.iter().enumerate().take(lens.len()) {
        let s = *slot.entry(key).or_insert_with(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        members[s].push(i);
    }
    let mut out = BatchPlan::default();
    for group in members {
        let group_lens: Vec<usize> = group.iter().map(|&i| lens[i]).collect();
        let part = plan(&group_lens, format, max_events, max_bytes);
        out.batches.extend(
            part.batches
                .into_iter()
                .map(|b| b.into_iter().map(|j| group[j]).collect()),
        );
        out.oversized
            .extend(part.oversized.into_iter().map(|j| group[j]));
    }
    out.oversized.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_the_event_count() {
        let p = plan(&[10; 5], Framing::Lines, 2, 1_000);
        assert_eq!(p.batches, vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert!(p.oversized.is_empty());
    }

    #[test]
    fn splits_on_bytes_with_framing_counted() {
        // JSON array: 2 bytes of brackets + (len + 1) per event. 2 + 3*11 = 35 fits 35, not 34.
        assert_eq!(plan(&[10; 3], Framing::JsonArray, 100, 35).batches.len(), 1);
        assert_eq!(
            plan(&[10; 3], Framing::JsonArray, 100, 34).batches,
            vec![vec![0, 1], vec![2]]
        );
    }

    #[test]
    fn an_event_larger_than_a_batch_is_set_aside_and_the_rest_still_go() {
        let p = plan(&[10, 500, 10], Framing::Lines, 100, 100);
        assert_eq!(p.oversized, vec![1]);
        assert_eq!(p.batches, vec![vec![0, 2]]);
    }

    #[test]
    fn grouped_batches_never_mix_groups_and_keep_order_within_each() {
        let groups = ["a", "b", "a", "b", "a", "c"];
        let p = plan_grouped(&[10, 10, 500, 10, 10, 10], &groups, Framing::Lines, 2, 100);
        assert_eq!(p.batches, vec![vec![0, 4], vec![1, 3], vec![5]]);
        assert_eq!(p.oversized, vec![2]);
        for b in &p.batches {
            assert!(b.iter().all(|&i| groups[i] == groups[b[0]]), "{b:?}");
        }
    }

    #[test]
    fn every_batch_respects_both_limits() {
        let lens: Vec<usize> = (0..1000).map(|i| 50 + (i * 37) % 900).collect();
        let p = plan(&lens, Framing::JsonArray, 17, 4_000);
        let mut seen = 0;
        for b in &p.batches {
            assert!(b.len() <= 17);
            assert!(Framing::JsonArray.body_len(b.iter().map(|&i| lens[i])) <= 4_000);
            seen += b.len();
        }
        assert_eq!(seen + p.oversized.len(), lens.len());
    }
}
