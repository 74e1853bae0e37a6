//! A consumer's accounting of what it asks for (`lib/gen_stage/utils.ex`'s
//! `split_batches/5`).

/// `split_batches/5`: `events` received from a producer, cut into batches of at most
/// `max - min` events, each with how much to ask for once it is handled: the consumer asks
/// again only when what it still expects falls to `min_demand`, and then tops it up to
/// `max_demand`. Returns the batches and the demand still expected after them. Events beyond
/// the demand are an excess (logged, as Elixir logs it).
pub(crate) fn split_batches<E>(
    mut events: Vec<E>,
    min: usize,
    max: usize,
    demand: usize,
) -> (Vec<(Vec<E>, usize)>, usize, usize) {
    let (mut old, mut new) = (demand, demand);
    let mut excess = 0;
    let mut batches = Vec::new();
    let limit = (max - min).max(1);
    while !events.is_empty() {
        let rest = if events.len() > limit {
            events.split_off(limit)
        } else {
            Vec::new()
        };
        let batch = std::mem::replace(&mut events, rest);
        let mut size = batch.len();
        if size > old {
            excess += size - old;
            size = old;
            old = 0;
        } else {
            old -= size;
        }
        let ask = if new.saturating_sub(size) <= min {
            let diff = new.saturating_sub(size);
            new = max;
            max - diff
        } else {
            new -= size;
            0
        };
        batches.push((batch, ask));
    }
    (batches, new, excess)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_asks_again_at_min_demand_and_tops_up_to_max() {
        // max 10, min 5: batches of at most 5; the demand of 10 falls to 5 after the first
        // batch, so it asks for 5 more.
        let (batches, demand, excess) = split_batches((0..10).collect(), 5, 10, 10);
        let shape: Vec<(usize, usize)> = batches.iter().map(|(b, a)| (b.len(), *a)).collect();
        assert_eq!(shape, [(5, 5), (5, 5)]);
        assert_eq!((demand, excess), (10, 0));
        // Three events of ten expected: no ask yet.
        let (batches, demand, _) = split_batches(vec![1, 2, 3], 5, 10, 10);
        assert_eq!(batches[0].1, 0);
        assert_eq!(demand, 7);
    }
}
