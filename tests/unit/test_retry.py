import pytest

from bus import PoisonMessageError, RetryPolicy


def test_waits_grow_exponentially_under_a_cap_with_jitter() -> None:
    policy = RetryPolicy(attempts=8, initial_delay=0.5, max_delay=4.0, multiplier=2.0)
    bounds = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    for _ in range(200):
        delays = list(policy.delays())
        assert len(delays) == 7
        assert all(0 <= d <= b for d, b in zip(delays, bounds, strict=True))
    samples = [next(policy.delays()) for _ in range(500)]
    assert len(set(samples)) > 400, "jitter spreads retries out"


def test_which_errors_are_worth_another_try() -> None:
    policy = RetryPolicy(retry_on=(ConnectionError, TimeoutError))
    assert policy.is_retryable(ConnectionResetError())
    assert policy.is_retryable(TimeoutError())
    assert not policy.is_retryable(RuntimeError())
    assert not RetryPolicy().is_retryable(PoisonMessageError("bad"))
    assert not RetryPolicy().is_retryable(ValueError("bad input"))
    assert RetryPolicy().is_retryable(RuntimeError("flaky"))


def test_nonsense_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="initial_delay"):
        RetryPolicy(initial_delay=5, max_delay=1)
