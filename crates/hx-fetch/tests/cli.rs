//! `hx-fetch` as a user runs it: offline digits, `--from` with local files,
//! and clear errors for bad input.

use std::path::Path;
use std::process::{Command, Output};

use hessx_data::testkit;

fn hx_fetch(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hx-fetch"))
        .arg("--quiet")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("hx-fetch should run")
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn succeeds(data: &Path, args: &[&str]) -> String {
    let out = hx_fetch(data, args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "hx-fetch {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

fn fails(data: &Path, args: &[&str]) -> String {
    let out = hx_fetch(data, args);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "hx-fetch {args:?} should fail\nstdout:\n{stdout}");
    assert!(stderr.starts_with("error: "), "errors are printed once, prefixed: {stderr}");
    stderr
}

#[test]
fn digits_offline_then_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = succeeds(&data, &["digits", "--corruption", "gaussian_noise", "--severity", "5"]);
    assert_eq!(out.matches("wrote").count(), 4, "{out}");
    let table = data.join("digits/test-gaussian_noise-5.parquet");
    let manifest = data.join("digits/manifest.json");
    let stamps = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = (stamps(&table), stamps(&manifest));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = succeeds(&data, &["digits", "--corruption", "gaussian_noise", "--severity", "5"]);
    assert!(!again.contains("wrote") && again.matches("up to date").count() == 4, "{again}");
    assert_eq!((stamps(&table), stamps(&manifest)), before);
    let set = hessx_data::ImageSet::read(&table).unwrap();
    assert_eq!((set.len(), set.corruption.as_str(), set.severity), (360, "gaussian_noise", 5));
}

#[test]
fn a_damaged_table_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    succeeds(&data, &["digits"]);
    let table = data.join("digits/train.parquet");
    let mut bytes = std::fs::read(&table).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&table, bytes).unwrap();
    let out = succeeds(&data, &["digits"]);
    assert!(out.contains("checksum mismatch, rebuilt") && out.contains("train.parquet"), "{out}");
    assert_eq!(hessx_data::ImageSet::read(&table).unwrap().len(), 1437);
}

#[test]
fn from_a_file_with_the_wrong_checksum_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // Right size (sparse, all zeros), wrong contents: the SHA-256 check must catch it.
    let fake = dir.path().join("cifar-10-binary.tar.gz");
    std::fs::File::create(&fake).unwrap().set_len(hessx_data::CIFAR10_ARCHIVE.size).unwrap();
    let err = fails(&dir.path().join("data"), &["cifar10", "--from", fake.to_str().unwrap()]);
    assert!(err.contains(fake.to_str().unwrap()) && err.contains("SHA-256") && err.contains(hessx_data::CIFAR10_ARCHIVE.sha256), "{err}");
    assert!(err.contains("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"), "{err}");
    // A small file: the size check names it first.
    let small = dir.path().join("small.tar.gz");
    std::fs::write(&small, b"hello").unwrap();
    let err = fails(&dir.path().join("data"), &["cifar10c", "--from", small.to_str().unwrap(), "--corruption", "fog"]);
    assert!(err.contains("small.tar.gz") && err.contains("5 bytes") && err.contains("2918471680 bytes"), "{err}");
}

#[test]
fn from_extracted_folders_converts_cifar10_and_cifar10c() {
    let dir = tempfile::tempdir().unwrap();
    let c10 = testkit::cifar10_tar_gz(&dir.path().join("c10.tar.gz"), 2).unwrap();
    let c10_dir = dir.path().join("c10");
    tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&c10.path).unwrap())).unpack(&c10_dir).unwrap();
    let c10c = testkit::cifar10c_tar(&dir.path().join("c.tar"), &["gaussian_noise", "contrast"], 3, "<i8").unwrap();
    let c10c_dir = dir.path().join("c10c");
    tar::Archive::new(std::fs::File::open(&c10c.path).unwrap()).unpack(&c10c_dir).unwrap();
    let data = dir.path().join("data");

    // Issue 16: two records per batch is not CIFAR-10; only --allow-subset imports it.
    let err = fails(&data, &["cifar10", "--from", c10_dir.to_str().unwrap()]);
    assert!(err.contains("data_batch_1.bin") && err.contains("--allow-subset"), "{err}");
    let out = succeeds(
        &data,
        &["cifar10", "--from", c10_dir.to_str().unwrap(), "--allow-subset", "--corruption", "jpeg_compression", "--severity", "1"],
    );
    assert_eq!(out.matches("wrote").count(), 4, "{out}");
    let train = hessx_data::ImageSet::read(&data.join("cifar10/train.parquet")).unwrap();
    assert_eq!(train.image(3)[100], testkit::cifar10_pixel(1, 1, 100));

    let out = succeeds(&data, &["cifar10c", "--from", c10c_dir.to_str().unwrap(), "--corruption", "contrast", "--severity", "2,3"]);
    assert_eq!(out.matches("wrote").count(), 2, "{out}");
    let set = hessx_data::ImageSet::read(&data.join("cifar10c/test-contrast-3.parquet")).unwrap();
    // Severity 3, image 1 is row 2 * 3 + 1 of contrast.npy (k = 1); pixel (y 4, x 9, channel 2).
    assert_eq!(set.image(1)[2 * 1024 + 4 * 32 + 9], testkit::cifar10c_pixel(1, 7, 4, 9, 2));
}

#[test]
fn digits_get_every_cifar10c_corruption_computed() {
    // Issue 13: the nine corruptions that used to exist only in the CIFAR-10-C archive.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let nine = "defocus_blur,glass_blur,motion_blur,zoom_blur,snow,frost,fog,elastic_transform,spatter";
    let out = succeeds(&data, &["digits", "--corruption", nine, "--severity", "3"]);
    assert_eq!(out.matches("wrote").count(), 2 + 2 * 9, "{out}");
    let clean = hessx_data::ImageSet::read(&data.join("digits/test.parquet")).unwrap();
    for name in nine.split(',') {
        let set = hessx_data::ImageSet::read(&data.join(format!("digits/test-{name}-3.parquet"))).unwrap();
        assert_eq!((set.corruption.as_str(), set.severity, set.shape, set.labels.len()), (name, 3, [1, 8, 8], 360));
        assert_eq!(set.labels, clean.labels);
        assert_ne!(set.pixels, clean.pixels, "{name} changed nothing");
    }
    // The manifest says frost's texture is procedural, and only for frost.
    let manifest = hessx_data::Manifest::load_or_new(&data.join("digits/manifest.json"), "digits").unwrap();
    let recipe = |file: &str| manifest.tables[file].recipe.clone();
    assert!(recipe("test-frost-3.parquet").contains("procedural frost texture"), "{}", recipe("test-frost-3.parquet"));
    assert!(!recipe("test-snow-3.parquet").contains("procedural"), "{}", recipe("test-snow-3.parquet"));
    // The same seed gives the same tables: a second run has nothing to do.
    let again = succeeds(&data, &["digits", "--corruption", "snow", "--severity", "3"]);
    assert!(!again.contains("wrote") && again.contains("up to date"), "{again}");
}

#[test]
fn bad_flags_name_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let err = fails(&data, &["digits", "--corruption", "gaussian"]);
    assert!(err.contains("--corruption gaussian") && err.contains("gaussian_noise shot_noise"), "{err}");
    let err = fails(&data, &["digits", "--corruption", "gaussian_noise", "--severity", "7"]);
    assert!(err.contains("--severity 7") && err.contains("between 1 and 5"), "{err}");
    let err = fails(&data, &["digits", "--corruption", "saturate"]);
    assert!(err.contains("saturate") && err.contains("3-channel"), "{err}");
    let err = fails(&data, &["synthetic", "--classes", "1"]);
    assert!(err.contains("--classes"), "{err}");
    let err = fails(&data, &["cifar10c", "--corruption", "blur"]);
    assert!(err.contains("--corruption blur") && err.contains("motion_blur"), "{err}");
}

#[test]
fn help_explains_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_hx-fetch")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "digits",
        "cifar10c",
        "synthetic",
        "ctr",
        "sequences",
        "table --input",
        "--data-dir",
        "gaussian_noise",
        "elastic_transform",
        "PROCEDURAL frost texture",
        "click_rate",
        "drop_fields",
        "dense_noise",
        "token_noise",
        "truncate",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
}

#[test]
fn synthetic_and_ctr_write_their_tables() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    succeeds(&data, &["synthetic", "--name", "tiny", "--classes", "3", "--channels", "1", "--height", "5", "--width", "4", "--train", "12", "--test", "6"]);
    let set = hessx_data::ImageSet::read(&data.join("tiny/test.parquet")).unwrap();
    assert_eq!((set.len(), set.shape, set.num_classes), (6, [1, 5, 4], 3));
    succeeds(&data, &["ctr", "--cardinalities", "4,3", "--dense", "2", "--train", "30", "--test", "10"]);
    let ctr = hessx_data::load_ctr(&hessx_store::DataDir::new(&data), "train").unwrap();
    assert_eq!((ctr.len(), ctr.cardinalities), (30, vec![4, 3]));
}

#[test]
fn a_profile_section_supplies_the_command_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let profile = dir.path().join("p.toml");
    std::fs::write(&profile, "[fetch]\nsubcommand = \"digits\"\ncorruption = \"gaussian_noise\"\nseverity = 5\n").unwrap();
    let out = succeeds(&data, &["--profile", profile.to_str().unwrap()]);
    assert_eq!(out.matches("wrote").count(), 4, "{out}");
    assert!(data.join("digits/train-gaussian_noise-5.parquet").exists());
}

#[test]
fn ctr_shifts_are_written_for_both_splits_and_checked_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["ctr", "--cardinalities", "5,4", "--dense", "2", "--train", "200", "--test", "100", "--corruption", "drop_fields,dense_noise", "--severity", "1,5"];
    let out = succeeds(&data, &args);
    assert_eq!(out.matches("wrote").count(), 2 + 2 * 2 * 2, "{out}");
    let again = succeeds(&data, &args);
    assert!(!again.contains("wrote") && again.matches("up to date").count() == 10, "{again}");
    let dir_ = hessx_store::DataDir::new(&data);
    let clean = hessx_data::load_tabular(&dir_, "ctr", "test", None).unwrap();
    let shifted = hessx_data::load_tabular(&dir_, "ctr", "test", Some(("drop_fields", 5))).unwrap();
    let dropped = shifted.categorical.iter().filter(|&&v| v == 0).count();
    assert!(dropped > 80 && clean.categorical.iter().all(|&v| v != 0), "{dropped} of 200 dropped");
    let manifest = hessx_data::Manifest::load(&dir_.manifest("ctr")).unwrap().unwrap();
    let entry = &manifest.tables["train-dense_noise-5.parquet"];
    assert_eq!((entry.corruption.as_str(), entry.severity, entry.seed, entry.rows), ("dense_noise", 5, Some(0), 200));
    assert!(entry.recipe.contains("train.parquet sha256="), "{}", entry.recipe);
    // A table renamed to pose as another shift is caught by its rows.
    std::fs::copy(data.join("ctr/test-drop_fields-1.parquet"), data.join("ctr/test-click_rate-1.parquet")).unwrap();
    let err = hessx_data::load_tabular(&dir_, "ctr", "test", Some(("click_rate", 1))).unwrap_err().to_string();
    assert!(err.contains("shift `drop_fields` severity 1") && err.contains("hx-fetch ctr --corruption click_rate --severity 1"), "{err}");
    let err = fails(&data, &["ctr", "--corruption", "gaussian_noise"]);
    assert!(err.contains("--corruption gaussian_noise") && err.contains("click_rate drop_fields dense_noise"), "{err}");
}

#[test]
fn sequences_and_their_shifts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = succeeds(&data, &["sequences", "--train", "300", "--test", "100", "--corruption", "truncate", "--severity", "5"]);
    assert_eq!(out.matches("wrote").count(), 4, "{out}");
    let dir_ = hessx_store::DataDir::new(&data);
    let test = hessx_data::load_tokens(&dir_, "sequences", "test", Some(("truncate", 5))).unwrap();
    assert_eq!((test.len(), test.length, test.vocab, test.num_classes), (100, 16, 32, 4));
    assert!((0..test.len()).all(|i| test.row(i)[8..].iter().all(|&t| t == 0)));
    assert_eq!(hessx_data::table_kind(&data.join("sequences/train.parquet")).unwrap(), hessx_data::DatasetKind::Tokens);
    let err = hessx_data::load_tokens(&dir_, "sequences", "test", Some(("token_noise", 2))).unwrap_err().to_string();
    assert!(err.contains("hx-fetch sequences --corruption token_noise --severity 2"), "{err}");
    let err = fails(&data, &["sequences", "--corruption", "drop_fields"]);
    assert!(err.contains("--corruption drop_fields") && err.contains("token_noise truncate"), "{err}");
    let err = fails(&data, &["sequences", "--classes", "20"]);
    assert!(err.contains("--vocab") || err.contains("--length"), "{err}");
}

#[test]
fn a_users_table_is_imported_and_shifted() {
    use std::sync::Arc;
    use hessx_store::arrow;
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("clicks.parquet");
    let n = 100;
    let site: StringArray = (0..n).map(|i| Some(["a", "b", "c"][i % 3])).collect();
    let price: Float64Array = (0..n).map(|i| if i % 10 == 0 { None } else { Some(i as f64) }).collect();
    let clicked: Int64Array = (0..n).map(|i| Some((i % 2) as i64)).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![("site", Arc::new(site)), ("price", Arc::new(price)), ("clicked", Arc::new(clicked))];
    let schema = arrow::datatypes::Schema::new(
        columns.iter().map(|(n, a)| arrow::datatypes::Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
    );
    let batch = arrow::record_batch::RecordBatch::try_new(Arc::new(schema), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    hessx_store::column::write_parquet(&input, &[batch]).unwrap();
    let input = input.to_str().unwrap();
    let args = ["table", "--input", input, "--name", "clicks", "--label", "clicked", "--categorical", "site", "--dense", "price"];
    let out = succeeds(&data, &args);
    assert!(out.contains("note        --dense price: 10 null") && out.matches("wrote").count() == 2, "{out}");
    let mut shifted = args.to_vec();
    shifted.extend(["--corruption", "drop_fields", "--severity", "3"]);
    let out = succeeds(&data, &shifted);
    assert_eq!((out.matches("wrote").count(), out.matches("up to date").count()), (2, 2), "{out}");
    let dir_ = hessx_store::DataDir::new(&data);
    let train = hessx_data::load_tabular(&dir_, "clicks", "train", Some(("drop_fields", 3))).unwrap();
    assert_eq!((train.len(), train.cardinalities.clone(), train.num_dense), (80, vec![4], 1));
    assert!(data.join("clicks/vocabulary.json").exists());
    assert_eq!(hessx_data::table_kind(&data.join("clicks/test.parquet")).unwrap(), hessx_data::DatasetKind::Tabular);
    let err = fails(&data, &["table", "--input", input, "--name", "clicks", "--label", "clicked", "--categorical", "sites"]);
    assert!(err.contains("--categorical sites") && err.contains("site, price, clicked"), "{err}");
    let err = fails(&data, &["table", "--input", "nope.parquet", "--name", "x", "--label", "y", "--categorical", "z"]);
    assert!(err.contains("--input") && err.contains("nope.parquet"), "{err}");
}
