//! `engine` → chunk loop → processor concurrency (`processor.concurrency`, Spring's
//! `AsyncItemProcessor` with the serial run's results): one chunk's items in contiguous slices
//! over the step's processor and its helper instances, each slice one `process-batch` call on a
//! task of its own, so on a core of its own. Outcomes come back in input order, and the loops
//! count, skip, write and commit them exactly as they do with one instance.

use std::ops::Range;

use super::plugins::Plugins;
use super::processor::StepProcessor;
use crate::plugin::{PluginError, ProcessOutcome};

/// What one slice's `process-batch` call returned.
pub(crate) struct Slice {
    /// The chunk's items it covered (indexes into the items given).
    pub(crate) items: Range<usize>,
    /// The instance that processed it: 0 is the step's processor, `i` its helper `i - 1`.
    pub(crate) instance: usize,
    /// One outcome per item, or why the call failed as a whole.
    pub(crate) outcome: Result<Vec<ProcessOutcome>, PluginError>,
}

/// The contiguous ranges `n` items split into for `parts` instances: as even as possible, none
/// empty, in input order.
fn ranges(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    let (per, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|k| {
            let len = per + usize::from(k < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .collect()
}

impl Plugins {
    /// Processes `items` with the step's processor and its helpers, one slice each, at once; a
    /// step without helpers makes one call. Returns the items (unchanged, in order: the caller
    /// keeps them without a copy) and the slices in input order.
    ///
    /// # Panics
    /// When the step has no processor (the loops check), or a helper's task panicked (the panic
    /// goes on here, as it would have in a serial call).
    pub(crate) async fn process_slices(
        &mut self,
        mut items: Vec<Vec<u8>>,
    ) -> (Vec<Vec<u8>>, Vec<Slice>) {
        let n = items.len();
        let parts = ranges(n, self.helpers.len() + 1);
        let main = self
            .processor
            .as_mut()
            .expect("the loops check for a processor");
        if parts.len() == 1 {
            let outcome = main.process_batch(&items).await;
            let slice = Slice {
                items: 0..n,
                instance: 0,
                outcome,
            };
            return (items, vec![slice]);
        }
        // Move each helper and its slice (taken from the back, so no item is copied) into a task.
        let mut tail: Vec<Vec<Vec<u8>>> = parts[1..]
            .iter()
            .rev()
            .map(|r| items.split_off(r.start))
            .collect();
        tail.reverse();
        let helpers = std::mem::take(&mut self.helpers);
        let mut idle: Vec<StepProcessor> = Vec::new();
        let mut tasks = Vec::with_capacity(tail.len());
        let mut slices = tail.into_iter();
        for mut helper in helpers {
            match slices.next() {
                Some(slice) => tasks.push(tokio::spawn(async move {
                    let outcome = helper.process_batch(&slice).await;
                    (helper, slice, outcome)
                })),
                None => idle.push(helper),
            }
        }
        let first = main.process_batch(&items).await;
        let mut out = vec![Slice {
            items: parts[0].clone(),
            instance: 0,
            outcome: first,
        }];
        for (k, task) in tasks.into_iter().enumerate() {
            let (helper, mut slice, outcome) = match task.await {
                Ok(done) => done,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            };
            self.helpers.push(helper);
            items.append(&mut slice);
            out.push(Slice {
                items: parts[k + 1].clone(),
                instance: k + 1,
                outcome,
            });
        }
        self.helpers.extend(idle);
        (items, out)
    }
}

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn slices_cover_every_item_once_in_order_and_none_is_empty() {
        for n in 0..40 {
            for parts in 1..9 {
                let rs = ranges(n, parts);
                assert_eq!(rs.len(), parts.min(n.max(1)), "n={n} parts={parts}");
                let flat: Vec<usize> = rs.iter().flat_map(|r| r.clone()).collect();
                assert_eq!(flat, (0..n).collect::<Vec<_>>(), "n={n} parts={parts}");
                assert!(n == 0 || rs.iter().all(|r| !r.is_empty()));
                let lens: Vec<usize> = rs.iter().map(|r| r.len()).collect();
                let (lo, hi) = (lens.iter().min(), lens.iter().max());
                assert!(hi.unwrap() - lo.unwrap() <= 1, "uneven: {lens:?}");
            }
        }
    }
}
