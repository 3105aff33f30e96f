import pytest
import torch

from coursekit.data import batches, load_digits, make_grid, make_sort, make_task


def test_digits_split_is_seeded_standardised_and_disjoint():
    a, b = load_digits(seed=0), load_digits(seed=0)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.x_train.shape[1] == 64 and a.n_classes == 10
    assert a.x_train.shape[0] + a.x_test.shape[0] == 1797
    torch.testing.assert_close(a.x_train.mean(0), torch.zeros(64), atol=1e-5, rtol=0)
    assert not torch.equal(load_digits(seed=1).y_train, a.y_train)
    assert a.x_test.abs().max() < 20  # no pixel blown up by a near-zero std


def test_sort_targets_are_the_sorted_inputs():
    task = make_sort(n_train=50, n_test=10, length=7, vocab=5, seed=3)
    assert task.x_train.shape == (50, 7) and task.x_test.shape == (10, 7)
    assert torch.equal(task.y_train, task.x_train.sort(dim=1).values)
    assert (task.y_train[:, 1:] >= task.y_train[:, :-1]).all()
    assert int(task.x_train.max()) < 5


def test_grid_is_evenly_spaced_column():
    grid = make_grid(11, -1.0, 1.0)
    assert grid.shape == (11, 1)
    torch.testing.assert_close(grid[1:] - grid[:-1], torch.full((10, 1), 0.2))


def test_batches_cover_each_epoch_without_repeats():
    index = batches(n=10, batch_size=3, steps=7, seed=0)
    assert index.shape == (7, 3)
    epoch = index[:3].flatten()
    assert len(set(epoch.tolist())) == 9
    assert torch.equal(index, batches(10, 3, 7, seed=0))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: make_task("mnist"), "unknown task 'mnist'"),
        (lambda: make_sort(length=0), "length"),
        (lambda: make_sort(vocab=1), "vocab"),
        (lambda: make_grid(0), "n_points"),
        (lambda: make_grid(8, 1.0, 1.0), "high - low"),
        (lambda: batches(5, 6, 1, 0), "batch_size"),
        (lambda: load_digits(test_fraction=1.5), "test_fraction"),
    ],
)
def test_bad_arguments_name_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="length"):
        make_sort(length=2.5)


def test_digits_are_scikit_learns_digits_read_without_importing_it():
    from sklearn.datasets import load_digits as sklearn_digits

    from coursekit.data import _digits_arrays, _digits_file

    assert _digits_file() is not None, "scikit-learn keeps its digits elsewhere: the slow import is back"
    x, y = _digits_arrays()
    bunch = sklearn_digits()
    assert torch.equal(x, torch.as_tensor(bunch.data, dtype=torch.float32))
    assert torch.equal(y, torch.as_tensor(bunch.target, dtype=torch.long))
