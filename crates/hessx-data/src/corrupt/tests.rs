use super::*;

/// `n` images of `shape`, every value `v`.
fn flat_set(n: usize, shape: [usize; 3], v: u8) -> ImageSet {
    let size: usize = shape.iter().product();
    ImageSet {
        dataset: "toy".into(),
        split: "test".into(),
        corruption: "none".into(),
        severity: 0,
        shape,
        num_classes: 2,
        labels: vec![0; n],
        pixels: vec![v; n * size],
    }
}

/// `n` textured colour images: smooth waves plus fixed pseudo-random detail.
fn textured_set(n: usize) -> ImageSet {
    let mut set = flat_set(n, [3, 32, 32], 0);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for (i, v) in set.pixels.iter_mut().enumerate() {
        let (img, ch, y, x) = (i / 3072, (i / 1024) % 3, (i / 32) % 32, i % 32);
        let wave = 60.0 * ((x as f32 * 0.7 + ch as f32 + img as f32).sin() * (y as f32 * 0.45).cos());
        *v = (120.0 + wave + rng.random_range(-40.0..40.0f32)).clamp(0.0, 255.0) as u8;
    }
    set
}

/// Differences (corrupted - clean) in [0, 1] units.
fn diffs(clean: &ImageSet, corrupted: &ImageSet) -> Vec<f64> {
    clean.pixels.iter().zip(&corrupted.pixels).map(|(&a, &b)| (b as f64 - a as f64) / 255.0).collect()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt())
}

fn mean_abs_change(c: Corruption, s: u8, set: &ImageSet) -> f64 {
    let out = corrupt_set(set, c, s, 0, false).unwrap();
    diffs(set, &out).iter().map(|d| d.abs()).sum::<f64>() / set.pixels.len() as f64
}

// 30,720 values per severity: the sample std of n normal draws has relative
// standard error 1/sqrt(2n) = 0.4%, so 3% is more than 7 standard errors.
// Rounding to 8 bits adds variance 1/(12 * 255^2), i.e. < 0.1% of the std.
// Mid-grey 128/255 is 5 standard deviations from 0 and 1 even at c = 0.10,
// so clipping does not bias the estimate.
const STAT_TOL: f64 = 0.03;

#[test]
fn gaussian_noise_std_matches_c_per_severity() {
    let clean = flat_set(10, [3, 32, 32], 128);
    for s in 1..=5 {
        let c = Corruption::GaussianNoise.constant(s).unwrap();
        let (m, sd) = mean_std(&diffs(&clean, &corrupt_set(&clean, Corruption::GaussianNoise, s, 1, false).unwrap()));
        assert!((sd / c - 1.0).abs() < STAT_TOL, "severity {s}: std {sd}, c {c}");
        assert!(m.abs() < 5.0 * c / (30720f64).sqrt() + 0.002, "severity {s}: mean {m}");
    }
}

#[test]
fn shot_noise_std_is_sqrt_x_over_c() {
    let clean = flat_set(10, [3, 32, 32], 128);
    let x = 128.0 / 255.0;
    for s in 1..=5 {
        let c = Corruption::ShotNoise.constant(s).unwrap();
        let expect = (x / c).sqrt();
        let (m, sd) = mean_std(&diffs(&clean, &corrupt_set(&clean, Corruption::ShotNoise, s, 1, false).unwrap()));
        assert!((sd / expect - 1.0).abs() < STAT_TOL, "severity {s}: std {sd}, expected {expect}");
        assert!(m.abs() < 5.0 * expect / (30720f64).sqrt() + 0.002, "severity {s}: mean {m}");
    }
}

#[test]
fn speckle_noise_std_is_x_times_c() {
    let clean = flat_set(10, [3, 32, 32], 128);
    for s in 1..=5 {
        let expect = 128.0 / 255.0 * Corruption::SpeckleNoise.constant(s).unwrap();
        let (_, sd) = mean_std(&diffs(&clean, &corrupt_set(&clean, Corruption::SpeckleNoise, s, 1, false).unwrap()));
        assert!((sd / expect - 1.0).abs() < STAT_TOL, "severity {s}: std {sd}, expected {expect}");
    }
}

#[test]
fn impulse_noise_flips_the_stated_fraction_half_to_salt() {
    let clean = flat_set(10, [3, 32, 32], 128);
    let n = clean.pixels.len() as f64;
    for s in 1..=5 {
        let amount = Corruption::ImpulseNoise.constant(s).unwrap();
        let out = corrupt_set(&clean, Corruption::ImpulseNoise, s, 1, false).unwrap();
        let salt = out.pixels.iter().filter(|&&v| v == 255).count() as f64;
        let pepper = out.pixels.iter().filter(|&&v| v == 0).count() as f64;
        assert_eq!(salt + pepper, out.pixels.iter().filter(|&&v| v != 128).count() as f64);
        // Binomial standard errors; 5 of them.
        let se = (amount * (1.0 - amount) / n).sqrt();
        assert!(((salt + pepper) / n - amount).abs() < 5.0 * se, "severity {s}: {} vs {amount}", (salt + pepper) / n);
        let half_se = (0.25 / (salt + pepper)).sqrt();
        assert!((salt / (salt + pepper) - 0.5).abs() < 5.0 * half_se, "severity {s}: salt share {}", salt / (salt + pepper));
    }
}

#[test]
fn deterministic_structured_corruptions_grow_with_severity() {
    let set = textured_set(6);
    for c in [Corruption::GaussianBlur, Corruption::Pixelate, Corruption::JpegCompression, Corruption::Brightness, Corruption::Contrast] {
        let changes: Vec<f64> = (1..=5).map(|s| mean_abs_change(c, s, &set)).collect();
        assert!(changes[0] > 0.0, "{c:?} changes nothing at severity 1");
        assert!(changes.windows(2).all(|w| w[1] > w[0]), "{c:?}: mean |change| per severity {changes:?}");
    }
    for c in [Corruption::GaussianNoise, Corruption::ShotNoise, Corruption::ImpulseNoise, Corruption::SpeckleNoise] {
        let changes: Vec<f64> = (1..=5).map(|s| mean_abs_change(c, s, &set)).collect();
        assert!(changes.windows(2).all(|w| w[1] > w[0]), "{c:?}: mean |change| per severity {changes:?}");
    }
}

#[test]
fn saturate_desaturates_then_saturates() {
    let set = textured_set(4);
    let mean_saturation = |s: &ImageSet| {
        let mut total = 0.0;
        for i in 0..s.len() {
            let img = s.image(i);
            for p in 0..1024 {
                let (_, sat, _) = color::rgb_to_hsv(img[p] as f32 / 255.0, img[1024 + p] as f32 / 255.0, img[2048 + p] as f32 / 255.0);
                total += sat as f64;
            }
        }
        total / (s.len() * 1024) as f64
    };
    let base = mean_saturation(&set);
    let sat: Vec<f64> = (1..=5).map(|s| mean_saturation(&corrupt_set(&set, Corruption::Saturate, s, 0, false).unwrap())).collect();
    // c0 = 0.3 then 0.1 shrink saturation; 1.5, 2 (+0.1), 2.5 (+0.2) raise it.
    assert!(sat[1] < sat[0] && sat[0] < base && base < sat[2] && sat[2] < sat[3] && sat[3] < sat[4], "{base} {sat:?}");
}

#[test]
fn known_pixels_of_contrast_and_grey_brightness() {
    let mut set = flat_set(1, [1, 1, 2], 0);
    set.pixels = vec![51, 153]; // 0.2 and 0.6, mean 0.4
    let out = corrupt_set(&set, Corruption::Contrast, 1, 0, false).unwrap();
    assert_eq!(out.pixels, vec![(0.25f32 * 255.0).round() as u8, (0.55f32 * 255.0).round() as u8]);
    // Grey brightness: V is the value itself, so x + c, clipped.
    set.pixels = vec![51, 250];
    let out = corrupt_set(&set, Corruption::Brightness, 5, 0, false).unwrap();
    assert_eq!(out.pixels, vec![(0.5f32 * 255.0).round() as u8, 255]);
    // Colour brightness keeps hue: a pure dark red stays pure red.
    let mut rgb = flat_set(1, [3, 1, 1], 0);
    rgb.pixels = vec![100, 0, 0];
    let out = corrupt_set(&rgb, Corruption::Brightness, 3, 0, false).unwrap();
    assert_eq!(out.pixels, vec![(100.0 + 0.15f32 * 255.0).round() as u8, 0, 0]);
}

#[test]
fn noise_is_seeded_and_split_specific() {
    let set = textured_set(2);
    let a = corrupt_set(&set, Corruption::GaussianNoise, 3, 7, false).unwrap();
    assert_eq!(a, corrupt_set(&set, Corruption::GaussianNoise, 3, 7, false).unwrap());
    assert_ne!(a.pixels, corrupt_set(&set, Corruption::GaussianNoise, 3, 8, false).unwrap().pixels);
    let mut train = set.clone();
    train.split = "train".into();
    assert_ne!(a.pixels, corrupt_set(&train, Corruption::GaussianNoise, 3, 7, false).unwrap().pixels);
    assert_eq!((a.corruption.as_str(), a.severity, &a.labels), ("gaussian_noise", 3, &set.labels));
}

#[test]
fn bad_requests_name_the_flag() {
    let err = Corruption::parse("gausian_noise").unwrap_err().to_string();
    assert!(err.contains("--corruption gausian_noise") && err.contains("gaussian_noise") && err.contains("jpeg_compression"), "{err}");
    // Every CIFAR-10-C name is computed, under the archive's file name.
    let names: Vec<&str> = Corruption::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(names, CIFAR10C_CORRUPTIONS);
    assert!(CIFAR10C_CORRUPTIONS.iter().all(|n| Corruption::parse(n).is_ok_and(|c| c.name() == *n)));
    for s in [0, 6] {
        let err = corrupt_set(&textured_set(1), Corruption::Contrast, s, 0, false).unwrap_err().to_string();
        assert!(err.contains(&format!("--severity {s}")) && err.contains("between 1 and 5"), "{err}");
    }
    let err = corrupt_set(&flat_set(1, [1, 8, 8], 3), Corruption::Saturate, 1, 0, false).unwrap_err().to_string();
    assert!(err.contains("saturate") && err.contains("3-channel"), "{err}");
    assert!(check_cifar10c_name("zoom_blur").is_ok());
    let err = check_cifar10c_name("zoom").unwrap_err().to_string();
    assert!(err.contains("zoom_blur") && err.contains("saturate"), "{err}");
}

#[test]
fn grey_jpeg_and_pixelate_work_on_small_images() {
    let mut set = flat_set(3, [1, 8, 8], 0);
    set.pixels.iter_mut().enumerate().for_each(|(i, v)| *v = ((i * 53) % 256) as u8);
    for c in [Corruption::JpegCompression, Corruption::Pixelate, Corruption::GaussianBlur] {
        let out = corrupt_set(&set, c, 5, 0, false).unwrap();
        assert_eq!(out.pixels.len(), set.pixels.len());
        assert_ne!(out.pixels, set.pixels, "{c:?} changed nothing");
    }
}

/// The nine corruptions that need more than one constant per severity.
const STRUCTURED: [Corruption; 9] = [
    Corruption::DefocusBlur,
    Corruption::GlassBlur,
    Corruption::MotionBlur,
    Corruption::ZoomBlur,
    Corruption::Snow,
    Corruption::Frost,
    Corruption::Fog,
    Corruption::ElasticTransform,
    Corruption::Spatter,
];

/// `n` digit-like 8x8 grey images: a ring of strokes on black, in the 17
/// grey levels of the embedded digits, centre moving from image to image.
fn grey_digits(n: usize) -> ImageSet {
    let mut set = flat_set(n, [1, 8, 8], 0);
    for (i, v) in set.pixels.iter_mut().enumerate() {
        let (img, y, x) = (i / 64, (i / 8) % 8, i % 8);
        let (cy, cx) = (3.5 + (img % 3) as f32 * 0.4 - 0.4, 3.5 + (img % 2) as f32 * 0.6 - 0.3);
        let r = ((y as f32 - cy).powi(2) + (x as f32 - cx).powi(2)).sqrt();
        let level = (16.0 * (-(r - 2.2).powi(2) / 1.2).exp()).round();
        *v = (level * 16.0).min(255.0) as u8;
    }
    set
}

#[test]
fn every_corruption_keeps_the_shape_and_gives_finite_values() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for shape in [[3, 32, 32], [1, 8, 8], [3, 12, 20], [2, 5, 7], [3, 64, 48]] {
        let size: usize = shape.iter().product();
        let textured: Vec<u8> = (0..size).map(|i| ((i * 97 + i / 7 * 31) % 256) as u8).collect();
        for image in [vec![0u8; size], vec![255u8; size], textured] {
            for c in Corruption::ALL {
                if c.check_channels(shape[0]).is_err() {
                    continue;
                }
                for s in 1..=5 {
                    let out = c.apply(s, &image, shape, &mut rng).unwrap();
                    assert_eq!(out.len(), size, "{c:?} severity {s} on {shape:?}");
                    if c != Corruption::JpegCompression {
                        let raw = c.unclipped(s, &image, shape, &mut rng);
                        assert!(raw.iter().all(|v| v.is_finite()), "{c:?} severity {s} on {shape:?}: not finite");
                        // The recipe clips to [0, 1] at the end; before that only snow on
                        // white goes far (up to 1.2 + 2 streak layers).
                        assert!(raw.iter().all(|v| (-1.0..=3.3).contains(v)), "{c:?} severity {s} on {shape:?}: out of range");
                    }
                }
            }
        }
    }
}

#[test]
fn structured_corruptions_are_seeded_and_change_every_image() {
    for set in [textured_set(3), grey_digits(3)] {
        for c in STRUCTURED {
            for s in [1, 3, 5] {
                let a = corrupt_set(&set, c, s, 7, false).unwrap();
                assert_eq!(a, corrupt_set(&set, c, s, 7, false).unwrap(), "{c:?} severity {s} is not reproducible");
                let b = corrupt_set(&set, c, s, 8, false).unwrap();
                assert_eq!(a.pixels != b.pixels, c.is_random(), "{c:?} severity {s}: seed dependence should match is_random");
                assert_eq!((a.corruption.as_str(), a.severity, a.shape), (c.name(), s, set.shape));
                for i in 0..set.len() {
                    assert_ne!(a.image(i), set.image(i), "{c:?} severity {s} left image {i} of {:?} unchanged", set.shape);
                }
            }
        }
    }
}

/// Mean |change| per severity, averaged over `seeds` seeds.
fn strength(c: Corruption, set: &ImageSet, seeds: u64) -> Vec<f64> {
    (1..=5)
        .map(|s| {
            (0..seeds)
                .map(|seed| {
                    let out = corrupt_set(set, c, s, seed, false).unwrap();
                    diffs(set, &out).iter().map(|d| d.abs()).sum::<f64>() / set.pixels.len() as f64
                })
                .sum::<f64>()
                / seeds as f64
        })
        .collect()
}

#[test]
fn structured_corruptions_grow_with_severity() {
    // Where the published recipe itself is not monotone in mean |change|
    // (measured with `tools/compare_cifar_c.py`, figures in the module docs),
    // the test asks for the recipe's ordering instead:
    // - glass blur has two regimes, one shuffle pass (1-3) and two (4-5);
    // - motion blur's severity 4 is as strong as 3;
    // - frost lowers the image's weight as it raises the frost's, so beyond
    //   severity 2 the change depends on the image (photographs: 3 > 4 > 5);
    // - spatter switches from water (1-3) to mud (4-5);
    // - elastic transform shrinks its affine part while its elastic part
    //   grows (photographs: 1 > 2 > ... > 5), so it is only required to act.
    for (set, seeds) in [(textured_set(4), 3), (grey_digits(12), 3)] {
        for c in STRUCTURED {
            let m = strength(c, &set, seeds);
            let grows = |from: usize, to: usize| m[to - 1] > m[from - 1];
            let ok = match c {
                Corruption::GlassBlur => m[3].min(m[4]) > m[0].max(m[1]).max(m[2]),
                Corruption::MotionBlur => grows(1, 2) && grows(2, 3) && grows(2, 4) && grows(4, 5),
                Corruption::Frost => grows(1, 2) && m[1..].iter().all(|&v| v > m[0]),
                Corruption::Spatter => grows(1, 2) && grows(2, 3) && grows(4, 5),
                Corruption::ElasticTransform => m.iter().all(|&v| v > 0.005),
                _ => m.windows(2).all(|w| w[1] > w[0]),
            };
            assert!(ok, "{c:?} on {:?}: mean |change| per severity {m:?}", set.shape);
        }
    }
}

#[test]
fn frost_is_recorded_as_procedural() {
    assert!(Corruption::Frost.note().is_some_and(|n| n.contains("procedural frost texture")));
    assert!(STRUCTURED.iter().filter(|&&c| c != Corruption::Frost).all(|c| c.note().is_none()));
}

#[test]
fn defocus_of_a_point_is_the_recipe_kernel() {
    // At 32x32 the kernel is the recipe's: severity 5 has radius 1.5 (a full
    // 3x3 disk of 9 pixels) with a 0.1-sigma anti-aliasing blur, which leaves
    // 1/9 on each of the 9 pixels up to exp(-50).
    let mut set = flat_set(1, [1, 32, 32], 0);
    set.pixels[16 * 32 + 16] = 255;
    let out = corrupt_set(&set, Corruption::DefocusBlur, 5, 0, false).unwrap();
    for dy in -1..=1isize {
        for dx in -1..=1isize {
            assert_eq!(out.pixels[((16 + dy) * 32 + 16 + dx) as usize], (255.0f32 / 9.0).round() as u8);
        }
    }
    assert_eq!(out.pixels.iter().filter(|&&v| v > 0).count(), 9);
}
