//! Fetches end to end on fixtures in the real formats: conversion, skipping
//! complete work, detecting corrupt tables and bad inputs.

use std::path::Path;

use hessx_data::testkit::{self, Fixture};
use hessx_data::{
    CorruptionRequest, Error, FetchOptions, ImageSet, Manifest, SequenceConfig, ShiftRequest, TabularShift, TokenShift,
    fetch_cifar10, fetch_cifar10c, fetch_ctr, fetch_digits, fetch_sequences, fetch_synthetic, fetch_tabular_shifts,
    fetch_token_shifts, load_ctr, load_images, load_tabular, load_tokens,
};
use hessx_store::DataDir;

const RECORDS: usize = 3;
const OPTS: FetchOptions = FetchOptions { progress: false, seed: 0, allow_subset: false };
/// The fixtures' batches hold RECORDS records, not CIFAR-10's 10,000.
const SUBSET: FetchOptions = FetchOptions { allow_subset: true, ..OPTS };

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn no_corruption() -> CorruptionRequest {
    CorruptionRequest::default()
}

fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn cifar10_from_an_archive_converts_skips_and_repairs() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = testkit::cifar10_tar_gz(&dir.path().join("c10.tar.gz"), RECORDS).unwrap();
    let spec = fixture.spec("cifar-10-binary.tar.gz", "http://127.0.0.1:9/unused");
    let data = DataDir::new(dir.path().join("data"));
    let report = fetch_cifar10(&data, &spec, Some(&fixture.path), &no_corruption(), OPTS).unwrap();
    assert_eq!(report.written.len(), 2);

    let train = load_images(&data, "cifar10", "train", None).unwrap();
    let test = load_images(&data, "cifar10", "test", None).unwrap();
    assert_eq!((train.len(), test.len(), train.shape, train.num_classes), (5 * RECORDS, RECORDS, [3, 32, 32], 10));
    // Training record 2 of data_batch_2 is image RECORDS + 2; the binary record is already CHW.
    let img = train.image(RECORDS + 2);
    for offset in [0, 1, 1023, 1024, 2047, 2048, 3071] {
        assert_eq!(img[offset], testkit::cifar10_pixel(1, 2, offset), "offset {offset}");
    }
    assert_eq!(train.labels[RECORDS + 2] as u8, testkit::cifar10_label(1, 2));
    assert_eq!(test.image(1)[2000], testkit::cifar10_pixel(5, 1, 2000));

    // Complete: a second run writes nothing and leaves the files alone, even without the archive.
    let table = data.table("cifar10", "train", None);
    let before = (mtime(&table), mtime(&data.manifest("cifar10")));
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::remove_file(&fixture.path).unwrap();
    let again = fetch_cifar10(&data, &spec, Some(&fixture.path), &no_corruption(), OPTS).unwrap();
    assert!(again.written.is_empty() && again.up_to_date.len() == 2, "{again:?}");
    assert_eq!((mtime(&table), mtime(&data.manifest("cifar10"))), before);

    // A damaged table is refused on load and rebuilt by the next fetch.
    flip_a_byte(&table);
    let err = load_images(&data, "cifar10", "train", None).unwrap_err();
    assert!(matches!(err, Error::CorruptTable { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("train.parquet") && msg.contains("hx-fetch cifar10"), "{msg}");
    let fixture = testkit::cifar10_tar_gz(&dir.path().join("c10.tar.gz"), RECORDS).unwrap();
    let repaired = fetch_cifar10(&data, &spec, Some(&fixture.path), &no_corruption(), OPTS).unwrap();
    assert_eq!(repaired.repaired, vec![table.clone()]);
    assert_eq!(load_images(&data, "cifar10", "train", None).unwrap(), train);
}

#[test]
fn cifar10_from_an_extracted_folder_gives_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = testkit::cifar10_tar_gz(&dir.path().join("c10.tar.gz"), RECORDS).unwrap();
    let spec = fixture.spec("cifar-10-binary.tar.gz", "http://127.0.0.1:9/unused");
    let extracted = dir.path().join("extracted");
    tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&fixture.path).unwrap())).unpack(&extracted).unwrap();
    let (a, b) = (DataDir::new(dir.path().join("a")), DataDir::new(dir.path().join("b")));
    fetch_cifar10(&a, &spec, Some(&fixture.path), &no_corruption(), OPTS).unwrap();
    // Issue 16: a folder of short batches is refused unless asked for, naming the file.
    let err = fetch_cifar10(&b, &spec, Some(&extracted), &no_corruption(), OPTS).unwrap_err().to_string();
    assert!(err.contains("data_batch_1.bin") && err.contains("10000") && err.contains("--allow-subset"), "{err}");
    assert!(!b.table("cifar10", "train", None).exists());
    fetch_cifar10(&b, &spec, Some(&extracted), &no_corruption(), SUBSET).unwrap();
    for split in ["train", "test"] {
        assert_eq!(std::fs::read(a.table("cifar10", split, None)).unwrap(), std::fs::read(b.table("cifar10", split, None)).unwrap());
    }
    // The manifest records the files read, not the archive's checksum it never saw.
    let manifest = Manifest::load(&b.manifest("cifar10")).unwrap().unwrap();
    let batch = extracted.join("cifar-10-batches-bin/test_batch.bin");
    let sum = hessx_data::manifest::sha256_file(&batch).unwrap();
    let recipe = &manifest.tables["train.parquet"].recipe;
    assert!(recipe.contains(&format!("test_batch.bin sha256={sum}")) && !recipe.contains(&fixture.sha256), "{recipe}");
    assert!(recipe.contains("--allow-subset"), "{recipe}");
    assert!(manifest.source.contains("folder") && manifest.source.contains("subset of 15 train and 3 test"), "{}", manifest.source);
    let archived = Manifest::load(&a.manifest("cifar10")).unwrap().unwrap();
    assert!(archived.tables["train.parquet"].recipe.contains(&fixture.sha256));
}

#[test]
fn cifar10_archives_with_wrong_checksums_or_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = testkit::cifar10_tar_gz(&dir.path().join("c10.tar.gz"), RECORDS).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let wrong = Fixture { sha256: "0".repeat(64), ..fixture.clone() };
    let err = fetch_cifar10(&data, &wrong.spec("x.tar.gz", "http://h/x"), Some(&fixture.path), &no_corruption(), OPTS).unwrap_err().to_string();
    assert!(err.contains("c10.tar.gz") && err.contains("SHA-256") && err.contains(&fixture.sha256), "{err}");
    let wrong_md5 = Fixture { md5: "f".repeat(32), ..fixture.clone() };
    let err = fetch_cifar10(&data, &wrong_md5.spec("x.tar.gz", "http://h/x"), Some(&fixture.path), &no_corruption(), OPTS).unwrap_err().to_string();
    assert!(err.contains("MD5"), "{err}");
    // Truncated: the size check names it.
    let bytes = std::fs::read(&fixture.path).unwrap();
    let short = dir.path().join("short.tar.gz");
    std::fs::write(&short, &bytes[..bytes.len() - 100]).unwrap();
    let err = fetch_cifar10(&data, &fixture.spec("x.tar.gz", "http://h/x"), Some(&short), &no_corruption(), OPTS).unwrap_err().to_string();
    assert!(err.contains("short.tar.gz") && err.contains("size") && err.contains("truncated"), "{err}");
    // A truncated archive that passes a (matching) check still fails cleanly when read.
    let trunc = Fixture::of(&short).unwrap();
    let err = fetch_cifar10(&data, &trunc.spec("x.tar.gz", "http://h/x"), Some(&short), &no_corruption(), OPTS).unwrap_err().to_string();
    assert!(err.contains("short.tar.gz"), "{err}");
    assert!(!data.table("cifar10", "train", None).exists());
    // A missing --from file.
    let err = fetch_cifar10(&data, &fixture.spec("x", "http://h/x"), Some(&dir.path().join("nope.tar.gz")), &no_corruption(), OPTS)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--from") && err.contains("nope.tar.gz"), "{err}");
}

#[test]
fn cifar10_with_a_computed_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = testkit::cifar10_tar_gz(&dir.path().join("c10.tar.gz"), RECORDS).unwrap();
    let spec = fixture.spec("cifar-10-binary.tar.gz", "http://127.0.0.1:9/unused");
    let data = DataDir::new(dir.path().join("data"));
    let request = CorruptionRequest::parse(&["contrast".into(), "gaussian_noise".into()], &[2]).unwrap();
    let report = fetch_cifar10(&data, &spec, Some(&fixture.path), &request, FetchOptions { seed: 11, ..OPTS }).unwrap();
    assert_eq!(report.written.len(), 6);
    let noisy = load_images(&data, "cifar10", "test", Some(("gaussian_noise", 2))).unwrap();
    assert_eq!((noisy.corruption.as_str(), noisy.severity, noisy.len()), ("gaussian_noise", 2, RECORDS));
    let manifest = Manifest::load(&data.manifest("cifar10")).unwrap().unwrap();
    assert_eq!(manifest.tables["test-gaussian_noise-2.parquet"].seed, Some(11));
    assert_eq!(manifest.tables["test-contrast-2.parquet"].seed, None);
    let err = load_images(&data, "cifar10", "test", Some(("shot_noise", 2))).unwrap_err().to_string();
    assert!(err.contains("hx-fetch cifar10 --corruption shot_noise --severity 2") && err.contains("hx-fetch cifar10c"), "{err}");
}

#[test]
fn cifar10c_converts_only_what_is_asked_with_hwc_to_chw() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["gaussian_noise", "fog", "saturate"];
    let per = 4;
    for descr in ["<i8", "|u1", "<i4"] {
        let fixture = testkit::cifar10c_tar(&dir.path().join("c.tar"), &names, per, descr).unwrap();
        let spec = fixture.spec("CIFAR-10-C.tar", "http://127.0.0.1:9/unused");
        let data = DataDir::new(dir.path().join(format!("data{}", &descr[1..])));
        let report = fetch_cifar10c(&data, &spec, Some(&fixture.path), &["fog".into()], &[5], OPTS).unwrap();
        assert_eq!(report.written, vec![data.table("cifar10c", "test", Some(("fog", 5)))]);
        let files: Vec<_> = std::fs::read_dir(data.dataset("cifar10c")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files.len(), 2, "only the table and the manifest: {files:?}");
        let set = load_images(&data, "cifar10c", "test", Some(("fog", 5))).unwrap();
        assert_eq!((set.len(), set.shape, set.split.as_str()), (per, [3, 32, 32], "test"));
        // Image i of severity 5 is row 4 * per + i of fog.npy (k = 1); HWC (y, x, c) -> CHW c*1024 + y*32 + x.
        for (i, y, x, c) in [(0, 0, 0, 0), (1, 5, 7, 2), (3, 31, 30, 1), (2, 16, 0, 2)] {
            assert_eq!(set.image(i)[c * 1024 + y * 32 + x], testkit::cifar10c_pixel(1, 4 * per + i, y, x, c), "{descr} {i} {y} {x} {c}");
        }
        assert_eq!(set.labels, (0..per).map(|i| testkit::cifar10c_label(4 * per + i, per) as u16).collect::<Vec<_>>());
    }
}

#[test]
fn cifar10c_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = testkit::cifar10c_tar(&dir.path().join("c.tar"), &["gaussian_noise"], 2, "|u1").unwrap();
    let spec = fixture.spec("CIFAR-10-C.tar", "http://h/x");
    let data = DataDir::new(dir.path().join("data"));
    let err = fetch_cifar10c(&data, &spec, Some(&fixture.path), &["gausian".into()], &[], OPTS).unwrap_err().to_string();
    assert!(err.contains("--corruption gausian") && err.contains("gaussian_noise") && err.contains("saturate"), "{err}");
    let err = fetch_cifar10c(&data, &spec, Some(&fixture.path), &["fog".into()], &[6], OPTS).unwrap_err().to_string();
    assert!(err.contains("--severity 6"), "{err}");
    // Asking for all 19 from an archive that has one lists the missing files.
    let err = fetch_cifar10c(&data, &spec, Some(&fixture.path), &[], &[1], OPTS).unwrap_err().to_string();
    assert!(err.contains("c.tar") && err.contains("shot_noise.npy") && !err.contains("gaussian_noise.npy"), "{err}");
    // A bad .npy header names the member.
    let bad = dir.path().join("bad.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&bad).unwrap());
        for (name, bytes) in [("CIFAR-10-C/labels.npy", testkit::cifar10c_labels_npy(2, "|u1")), ("CIFAR-10-C/fog.npy", b"\x93NUMPX junk".to_vec())] {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_cksum();
            b.append_data(&mut h, name, bytes.as_slice()).unwrap();
        }
        b.finish().unwrap();
    }
    let bad_fixture = Fixture::of(&bad).unwrap();
    let err = fetch_cifar10c(&data, &bad_fixture.spec("CIFAR-10-C.tar", "http://h/x"), Some(&bad), &["fog".into()], &[1], OPTS)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.tar!CIFAR-10-C/fog.npy") && err.contains("NUMPY"), "{err}");
}

#[test]
fn digits_offline_with_a_corrupted_variant() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let request = CorruptionRequest::parse(&["gaussian_noise".into()], &[5]).unwrap();
    let report = fetch_digits(&data, None, &request, OPTS).unwrap();
    assert_eq!(report.written.len(), 4);
    assert!(data.dataset("digits").join("digits.csv.gz").exists());
    let train = load_images(&data, "digits", "train", None).unwrap();
    let noisy = load_images(&data, "digits", "train", Some(("gaussian_noise", 5))).unwrap();
    assert_eq!((train.len(), noisy.len(), noisy.shape), (1437, 1437, [1, 8, 8]));
    assert_eq!(noisy.labels, train.labels);
    let again = fetch_digits(&data, None, &request, OPTS).unwrap();
    assert!(again.written.is_empty() && again.up_to_date.len() == 4, "{again:?}");
    let err = load_images(&data, "digits", "test", Some(("shot_noise", 3))).unwrap_err().to_string();
    assert!(err.contains("test-shot_noise-3.parquet") && err.contains("hx-fetch digits --corruption shot_noise --severity 3 --data-dir"), "{err}");
    // A different CSV is refused.
    let other = dir.path().join("other.csv.gz");
    std::fs::write(&other, b"x").unwrap();
    let err = fetch_digits(&data, Some(&other), &request, OPTS).unwrap_err().to_string();
    assert!(err.contains("other.csv.gz") && err.contains("SHA-256"), "{err}");
}

#[test]
fn the_committed_digits_tables_match_their_manifest() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("digits");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&repo).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let data = DataDir::new(dir.path());
    let request = CorruptionRequest::parse(&["gaussian_noise".into()], &[5]).unwrap();
    let report = fetch_digits(&data, None, &request, OPTS).unwrap();
    assert!(report.written.is_empty(), "committed data/digits is not up to date: {report:?}");
    let test = ImageSet::read(&copy.join("test-gaussian_noise-5.parquet")).unwrap();
    assert_eq!(test.len(), 360);
}

#[test]
fn synthetic_and_ctr_fetches_follow_their_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let mut config = hessx_data::SyntheticConfig { name: "blobs".into(), shape: [1, 6, 6], train: 30, test: 10, ..Default::default() };
    let request = CorruptionRequest::parse(&["pixelate".into()], &[3]).unwrap();
    assert_eq!(fetch_synthetic(&data, &config, &request, OPTS).unwrap().written.len(), 4);
    assert!(fetch_synthetic(&data, &config, &request, OPTS).unwrap().written.is_empty());
    config.seed = 1;
    // New seed: clean tables change, so their corrupted variants are stale too.
    assert_eq!(fetch_synthetic(&data, &config, &request, OPTS).unwrap().written.len(), 4);
    assert_eq!(load_images(&data, "blobs", "test", Some(("pixelate", 3))).unwrap().len(), 10);

    let ctr = hessx_data::CtrConfig { cardinalities: vec![5, 4, 3], num_dense: 2, train: 40, test: 20, seed: 2 };
    assert_eq!(fetch_ctr(&data, &ctr).unwrap().written.len(), 2);
    assert!(fetch_ctr(&data, &ctr).unwrap().written.is_empty());
    let test = load_ctr(&data, "test").unwrap();
    assert_eq!((test.len(), test.cardinalities.clone(), test.num_dense), (20, vec![5, 4, 3], 2));
    let err = load_ctr(&DataDir::new(dir.path().join("empty")), "train").unwrap_err().to_string();
    assert!(err.contains("train.parquet") && err.contains("hx-fetch ctr"), "{err}");
}

#[test]
fn sequences_fetch_shift_skip_and_repair() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let config = SequenceConfig { train: 120, test: 40, ..Default::default() };
    let err = load_tokens(&data, "sequences", "train", None).unwrap_err().to_string();
    assert!(err.contains("train.parquet") && err.contains("hx-fetch sequences"), "{err}");
    assert_eq!(fetch_sequences(&data, &config).unwrap().written.len(), 2);
    let request = ShiftRequest::<TokenShift>::parse(&["token_noise".into(), "truncate".into()], &[2, 4]).unwrap();
    let opts = FetchOptions { seed: 9, ..OPTS };
    assert_eq!(fetch_token_shifts(&data, "sequences", &request, opts).unwrap().written.len(), 8);
    let clean = load_tokens(&data, "sequences", "test", None).unwrap();
    let noisy = load_tokens(&data, "sequences", "test", Some(("token_noise", 4))).unwrap();
    assert_eq!((noisy.len(), noisy.corruption.as_str(), noisy.severity, &noisy.labels), (40, "token_noise", 4, &clean.labels));
    assert_ne!(noisy.tokens, clean.tokens);
    let manifest = Manifest::load(&data.manifest("sequences")).unwrap().unwrap();
    let entry = &manifest.tables["test-token_noise-4.parquet"];
    assert_eq!((entry.seed, entry.vocab, entry.shape.clone(), entry.num_classes), (Some(9), Some(32), vec![16], 4));
    assert_eq!(manifest.tables["test-truncate-2.parquet"].seed, None, "truncate draws no random numbers");
    // Nothing to do the second time; a damaged table is rebuilt, a changed seed rewrites the noisy tables.
    let again = fetch_token_shifts(&data, "sequences", &request, opts).unwrap();
    assert_eq!((again.written.len(), again.up_to_date.len()), (0, 8));
    let table = data.table("sequences", "train", Some(("truncate", 2)));
    flip_a_byte(&table);
    let err = load_tokens(&data, "sequences", "train", Some(("truncate", 2))).unwrap_err();
    assert!(matches!(err, Error::CorruptTable { .. }), "{err}");
    let repaired = fetch_token_shifts(&data, "sequences", &request, opts).unwrap();
    assert_eq!(repaired.repaired, vec![table]);
    let reseeded = fetch_token_shifts(&data, "sequences", &request, FetchOptions { seed: 10, ..OPTS }).unwrap();
    assert_eq!(reseeded.written.len(), 4, "only token_noise depends on the seed");
    // A table renamed to pose as another shift is caught by its rows.
    let (from, to) = (data.table("sequences", "test", Some(("truncate", 4))), data.table("sequences", "test", Some(("truncate", 3))));
    std::fs::copy(from, to).unwrap();
    let err = load_tokens(&data, "sequences", "test", Some(("truncate", 3))).unwrap_err().to_string();
    assert!(err.contains("shift `truncate` severity 4") && err.contains("hx-fetch sequences --corruption truncate --severity 3"), "{err}");
    // Shifts of a dataset that was never fetched name the command that makes it.
    let err = fetch_token_shifts(&data, "other", &request, opts).unwrap_err().to_string();
    assert!(err.contains("other/train.parquet") && err.contains("hx-fetch sequences"), "{err}");
}

#[test]
fn tabular_shifts_of_ctr_are_recorded_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let config = hessx_data::CtrConfig { cardinalities: vec![6, 4], num_dense: 3, train: 400, test: 100, seed: 3 };
    fetch_ctr(&data, &config).unwrap();
    let request = ShiftRequest::<TabularShift>::parse(&["click_rate".into()], &[]).unwrap();
    assert_eq!(fetch_tabular_shifts(&data, "ctr", &request, OPTS).unwrap().written.len(), 10);
    let rate = |s: &hessx_data::CtrSet| s.labels.iter().filter(|&&l| l == 1).count() as f64 / s.len() as f64;
    let clean = load_ctr(&data, "train").unwrap();
    let five = load_tabular(&data, "ctr", "train", Some(("click_rate", 5))).unwrap();
    assert!(rate(&five) > rate(&clean) + 0.2, "{} vs {}", rate(&five), rate(&clean));
    // A clean table copied over a shifted one is refused: its rows say what it is.
    std::fs::copy(data.table("ctr", "test", None), data.table("ctr", "test", Some(("click_rate", 2)))).unwrap();
    let err = load_tabular(&data, "ctr", "test", Some(("click_rate", 2))).unwrap_err();
    assert!(matches!(err, Error::CorruptTable { .. }), "{err}");
    // The clean data changes: the shifts are stale and rebuilt.
    fetch_ctr(&data, &hessx_data::CtrConfig { seed: 4, ..config }).unwrap();
    assert_eq!(fetch_tabular_shifts(&data, "ctr", &request, OPTS).unwrap().written.len(), 10);
}
