"""The textbook loop's config and schedule (training/); the loop's numbers are held against the
engine's in tests/test_engine.py."""

import pytest

from coursekit.training import TrainConfig, lr_factor


def test_lr_factor_warms_up_then_follows_the_schedule():
    config = TrainConfig(steps=110, warmup_steps=10, schedule="cosine")
    assert lr_factor(0, config) == pytest.approx(0.1)
    assert lr_factor(9, config) == pytest.approx(1.0)
    assert lr_factor(10, config) == pytest.approx(1.0)
    assert lr_factor(60, config) == pytest.approx(0.5)
    assert lr_factor(5, TrainConfig(steps=10, schedule="linear")) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"schedule": "step"}, "schedule"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_bad_config_names_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)
