//! Mean change that every corruption makes, per severity, on images read
//! from a raw file: how hessx's corruptions were compared with the published
//! recipe (`tools/compare_cifar_c.py` runs `make_cifar_c.py` on the same file).
//!
//! ```sh
//! cargo run -p hessx-data --example corruption_stats -- images.u8 3 32 32 > hessx.csv
//! ```
//! The file holds images one after another, CHW, one byte per value. Output:
//! CSV `corruption,severity,mean_abs_change,mean_change` on [0, 1] values.

use hessx_data::corrupt::corrupt_set;
use hessx_data::{Corruption, ImageSet};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: corruption_stats IMAGES.u8 CHANNELS HEIGHT WIDTH");
        std::process::exit(2);
    }
    let pixels = std::fs::read(&args[1]).expect("the images file should be readable");
    let dim = |i: usize| args[i].parse::<usize>().expect("CHANNELS HEIGHT WIDTH should be numbers");
    let shape = [dim(2), dim(3), dim(4)];
    let size: usize = shape.iter().product();
    assert!(pixels.len() % size == 0, "{} bytes is not a whole number of {shape:?} images", pixels.len());
    let n = pixels.len() / size;
    let clean = ImageSet {
        dataset: "compare".into(),
        split: "test".into(),
        corruption: "none".into(),
        severity: 0,
        shape,
        num_classes: 1,
        labels: vec![0; n],
        pixels,
    };
    println!("corruption,severity,mean_abs_change,mean_change");
    for c in Corruption::ALL {
        if c.check_channels(shape[0]).is_err() {
            continue;
        }
        for s in 1..=5 {
            let out = corrupt_set(&clean, c, s, 0, false).expect("corruption should succeed");
            let (mut abs, mut signed) = (0f64, 0f64);
            for (&a, &b) in clean.pixels.iter().zip(&out.pixels) {
                let d = (b as f64 - a as f64) / 255.0;
                abs += d.abs();
                signed += d;
            }
            let total = clean.pixels.len() as f64;
            println!("{},{s},{:.5},{:.5}", c.name(), abs / total, signed / total);
        }
    }
}
