"""Distribution metrics of ``wavediff evaluate`` against closed forms and clear-cut cases."""

import numpy as np
import pytest
import torch

from wavediff.eval.distribution import (DistributionMetrics, MelFeatures, class_consistency, copy_check,
                                        coverage, frechet_distance)
from wavediff.eval.evaluate import matching_references
from wavediff.eval.plots import _best_row


def test_frechet_distance_matches_the_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    n, d = 200_000, 3
    a = rng.normal(0.0, 1.0, (n, d))
    b = rng.normal([1.0, 0.0, -2.0], [1.0, 2.0, 0.5], (n, d))
    # diagonal covariances: |mu_a - mu_b|^2 + sum (s_a - s_b)^2
    expected = (1 + 0 + 4) + (0 + 1 + 0.25)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="same d"):
        frechet_distance(a, b[:, :2])


def test_coverage_sees_whether_the_data_is_covered():
    rng = np.random.default_rng(1)
    real = rng.normal(0, 1, (300, 4))
    assert coverage(real, rng.normal(0, 1, (300, 4))) > 0.85
    collapsed = rng.normal(0, 0.05, (300, 4))  # realistic but one mode only
    assert coverage(real, collapsed) < 0.1
    assert coverage(real, rng.normal(8, 1, (300, 4))) < 0.05  # unrealistic
    # a few wild generated clips do not widen anything: only the real clips set the radii
    # (k-NN recall, with the generated clips' radii, reaches about 1 here)
    assert coverage(real, np.concatenate([collapsed[:290], rng.normal(0, 6, (10, 4))])) < 0.1
    with pytest.raises(ValueError, match="at least 2 distinct real"):
        coverage(real[:1], collapsed)
    # references repeated (more asked for than the held-out split holds) count once, instead
    # of shrinking the repeats' balls to radius 0
    fake = rng.normal(0, 1, (40, 4))
    assert coverage(np.repeat(real[:30], 4, axis=0), fake) == coverage(real[:30], fake) > 0.5
    with pytest.raises(ValueError, match="at least 2 distinct real"):
        coverage(np.repeat(real[:1], 5, axis=0), collapsed)


def test_copy_check_flags_memorised_clips():
    rng = np.random.default_rng(2)
    train = rng.normal(0, 1, (100, 6))
    held_out = rng.normal(0, 1, (40, 6))
    fresh = rng.normal(0, 1, (40, 6))
    copies = train[:40] + rng.normal(0, 1e-3, (40, 6))
    honest = copy_check(fresh, train, held_out)
    memorised = copy_check(copies, train, held_out)
    assert 0.7 < honest["nn_train_ratio"] < 1.4 and honest["copy_fraction"] < 0.1
    assert memorised["nn_train_ratio"] < 0.01 and memorised["copy_fraction"] == 1.0


def test_class_consistency_counts_clips_nearest_to_their_class():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    real_labels = np.repeat(np.arange(3), 20)
    real = centres[real_labels] + rng.normal(0, 1, (60, 2))
    labels = np.arange(30) % 3
    generated = centres[labels] + rng.normal(0, 1, (30, 2))
    assert class_consistency(generated, labels, real, real_labels) == 1.0
    assert class_consistency(generated, (labels + 1) % 3, real, real_labels) == 0.0


def test_class_consistency_centroids_use_the_labelled_training_clips_too():
    """With one held-out clip per class the centroids are that clip; with labelled training
    clips as well they are the class means: a clip generated at its class's mean then counts
    as its class, where the lone held-out clip of a neighbouring class was nearer."""
    from wavediff.data.demo import DemoCorpusConfig, corpus_to_arrays, generate_demo_corpus

    audio, labels, sr = corpus_to_arrays(generate_demo_corpus(DemoCorpusConfig(clips_per_class=10, clip_seconds=0.5)))
    audio = torch.from_numpy(audio)
    held_idx = np.array([np.flatnonzero(labels == k)[0] for k in range(5)])
    train_idx = np.setdiff1d(np.arange(len(labels)), held_idx)
    held, held_labels = audio[held_idx], labels[held_idx]
    train, train_labels = audio[train_idx], labels[train_idx]
    alone = DistributionMetrics(held, sr, held_out_labels=held_labels, train=train)
    both = DistributionMetrics(held, sr, held_out_labels=held_labels, train=train, train_labels=train_labels)
    assert alone.labelled_emb.shape[0] == 5 and both.labelled_emb.shape[0] == len(labels)
    np.testing.assert_array_equal(both.labelled, np.concatenate([held_labels, train_labels]))
    # the training clips themselves, asked for their own classes: the class means classify them
    # at least as well as the five lone clips do, and better than chance
    a = alone(train, train_labels)["class_consistency"]
    b = both(train, train_labels)["class_consistency"]
    assert b >= a and b >= 0.8
    # asked for the wrong classes they score low either way
    assert both(train, (train_labels + 1) % 5)["class_consistency"] <= 0.2
    with pytest.raises(ValueError, match="train_labels"):
        DistributionMetrics(held, sr, held_out_labels=held_labels, train=train, train_labels=train_labels[:3])


def test_references_match_the_classes_of_the_generated_clips():
    held = torch.tensor([2, 0, 0, 1, 2])
    assert matching_references(held, torch.tensor([0, 1, 2, 0, 1])) == [1, 3, 0, 2, 3]
    # a class with no held-out clip takes the next clip in order
    assert matching_references(held, torch.tensor([3, 0])) == [0, 1]


def test_the_plot_takes_the_best_sampler_at_the_highest_step_count():
    rows = [{"method": "ddim", "metrics": {"fd_mel": 50.0, "class_consistency": 0.9}},
            {"method": "ddpm", "metrics": {"fd_mel": 20.0, "class_consistency": 0.5}},
            {"method": "dpmpp_2m", "metrics": {"fd_mel": 30.0}}]
    assert _best_row(rows)["method"] == "ddpm"  # fd_mel: lower is better, and every row has it
    assert _best_row([{"method": "a", "metrics": {}}, {"method": "b", "metrics": {}}])["method"] == "b"


def test_mel_features_are_standardised_by_the_real_clips():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(8, 1, 8000, generator=gen) * 0.1
    feats = MelFeatures(16000).fit(real)
    frames = feats.frames(real)
    assert frames.shape[1] == 64
    np.testing.assert_allclose(frames.mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(frames.std(0), 1.0, atol=1e-3)
    emb = feats.clip_embeddings(real)
    assert emb.shape == (8, 128)
    louder = feats.frames(real * 10)  # +20 dB everywhere: every band moves the same way
    assert (louder.mean(0) > 1.0).all()
    with pytest.raises(RuntimeError, match="fit"):
        MelFeatures(16000).frames(real)


def test_noise_below_audibility_does_not_move_the_metrics_but_hiss_does():
    """The feature floor (about -80 dBFS): white noise at -75 dBFS on clips with digital
    silence leaves fd_mel and class consistency as they are (at the hifigan floor 1e-5 it
    moved fd_mel by half); audible hiss at -40 dBFS is still penalised."""
    from wavediff.data.demo import DemoCorpusConfig, corpus_to_arrays, generate_demo_corpus
    from wavediff.eval.distribution import FEATURE_LOG_FLOOR

    assert FEATURE_LOG_FLOOR == 1e-4
    audio, labels, sr = corpus_to_arrays(generate_demo_corpus(DemoCorpusConfig(clips_per_class=12)))
    a, la = audio[0::2, :, :8000], labels[0::2]
    b, lb = torch.from_numpy(audio[1::2, :, :8000]), labels[1::2]
    feats = MelFeatures(sr).fit(b)
    noise = np.random.default_rng(0).standard_normal(a.shape)

    def scores(db):
        x = torch.from_numpy((a + noise * 10 ** (db / 20)).astype(np.float32))
        return (frechet_distance(feats.frames(x), feats.frames(b)),
                class_consistency(feats.clip_embeddings(x), la, feats.clip_embeddings(b), lb))

    clean_fd, clean_cc = scores(-300)
    quiet_fd, quiet_cc = scores(-75)
    loud_fd, _ = scores(-40)
    assert quiet_fd == pytest.approx(clean_fd, rel=0.1) and quiet_cc >= clean_cc - 0.05 and clean_cc > 0.7
    assert loud_fd > 3 * clean_fd
