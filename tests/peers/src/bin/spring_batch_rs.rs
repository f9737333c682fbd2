//! The spring-batch-rs 0.4.1 peer: its `CsvItemReader` → a processor that rejects invalid
//! emails → its `JsonItemWriter`, chunk 1000, a skip limit above the invalid count.
//! Usage: `spring_batch_rs IN.csv OUT.json`; prints `read written skipped` on stdout.

use bench_peers::{Member, valid_email};
use serde::Serialize;
use spring_batch_rs::BatchError;
use spring_batch_rs::core::item::{ItemProcessor, ItemProcessorResult};
use spring_batch_rs::core::job::{Job, JobBuilder};
use spring_batch_rs::core::step::StepBuilder;
use spring_batch_rs::item::csv::csv_reader::CsvItemReaderBuilder;
use spring_batch_rs::item::json::json_writer::JsonItemWriterBuilder;

#[derive(Debug, Serialize)]
struct Normalised {
    id: String,
    name: String,
    email: String,
}

struct Normalise;

impl ItemProcessor<Member, Normalised> for Normalise {
    fn process(&self, m: Member) -> ItemProcessorResult<Normalised> {
        let email = m.email.to_lowercase();
        if !valid_email(&email) {
            return Err(BatchError::ItemProcessor(format!(
                "member {}: invalid email",
                m.id
            )));
        }
        let name = m.name.trim().to_owned();
        Ok(Some(Normalised {
            id: m.id,
            name,
            email,
        }))
    }
}

fn main() -> Result<(), BatchError> {
    let args: Vec<String> = std::env::args().collect();
    let reader = CsvItemReaderBuilder::<Member>::new()
        .has_headers(true)
        .from_path(&args[1]);
    let writer = JsonItemWriterBuilder::<Normalised>::new().from_path(&args[2]);
    let processor = Normalise;
    let step = StepBuilder::new("migrate")
        .chunk::<Member, Normalised>(1000)
        .reader(&reader)
        .processor(&processor)
        .writer(&writer)
        .skip_limit(u16::MAX)
        .build();
    let job = JobBuilder::new().start(&step).build();
    job.run()?;
    let s = job.get_step_execution("migrate").expect("the step ran");
    println!(
        "{} {} {}",
        s.read_count,
        s.write_count,
        s.process_error_count + s.read_error_count
    );
    Ok(())
}
