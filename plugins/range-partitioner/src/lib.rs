//! `range-partitioner`: splits the whole numbers `from..=to` into `grid-size` contiguous ranges
//! of nearly equal length, one partition each, with the keys `min` and `max` (inclusive) — what
//! a worker reading a key range needs (`${partition.min}`, `${partition.max}`), as the built-in
//! `sql-ranges` partitioner gives for a table.
//!
//! Config: `{ from: 1, to: 10000 }` (`from` ≤ `to`).

use batch_sdk::{Error, ExecutionContext, Partitioner, Setup};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    from: i64,
    to: i64,
}

/// The partitioner.
#[derive(Debug)]
pub struct RangePartitioner {
    from: i64,
    to: i64,
}

/// `grid` contiguous ranges covering `from..=to`, none empty (fewer when the range is shorter).
pub fn ranges(from: i64, to: i64, grid: u32) -> Vec<(i64, i64)> {
    let len = (to - from + 1).max(0);
    let parts = i64::from(grid.max(1)).min(len);
    if parts == 0 {
        return Vec::new();
    }
    let (per, extra) = (len / parts, len % parts);
    let mut start = from;
    (0..parts)
        .map(|k| {
            let n = per + i64::from(k < extra);
            let r = (start, start + n - 1);
            start += n;
            r
        })
        .collect()
}

impl Partitioner for RangePartitioner {
    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        if c.from > c.to {
            return Err(Error::new(
                "config.range",
                format!("`from: {}` is above `to: {}`", c.from, c.to),
            ));
        }
        Ok(RangePartitioner {
            from: c.from,
            to: c.to,
        })
    }

    fn partition(&mut self, grid_size: u32) -> Result<Vec<ExecutionContext>, Error> {
        ranges(self.from, self.to, grid_size)
            .into_iter()
            .map(|(min, max)| {
                let mut ctx = ExecutionContext::new();
                ctx.put("min", min).put("max", max);
                Ok(ctx)
            })
            .collect()
    }
}

batch_sdk::export_partitioner!(RangePartitioner);

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn ranges_cover_the_whole_range_once() {
        assert_eq!(ranges(1, 10, 3), [(1, 4), (5, 7), (8, 10)]);
        assert_eq!(ranges(5, 6, 4), [(5, 5), (6, 6)]);
        assert_eq!(ranges(3, 2, 4), []);
    }
}
