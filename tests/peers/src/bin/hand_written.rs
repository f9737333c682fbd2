//! The hand-written peer: csv + serde_json, one reused record, borrowed fields, a BufWriter.
//! Usage: `hand_written IN.csv OUT.jsonl`; prints `read written skipped` on stdout.

use std::io::{BufWriter, Write};

use bench_peers::{Out, valid_email};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mut reader = csv::Reader::from_path(&args[1])?;
    let mut out = BufWriter::with_capacity(256 * 1024, std::fs::File::create(&args[2])?);
    let mut record = csv::StringRecord::new();
    let (mut read, mut written, mut skipped) = (0u64, 0u64, 0u64);
    let mut email = String::new();
    while reader.read_record(&mut record)? {
        read += 1;
        email.clear();
        email.push_str(&record[2].to_lowercase());
        if !valid_email(&email) {
            skipped += 1;
            continue;
        }
        let row = Out {
            id: &record[0],
            name: record[1].trim(),
            email: &email,
        };
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
        written += 1;
    }
    out.flush()?;
    println!("{read} {written} {skipped}");
    Ok(())
}
