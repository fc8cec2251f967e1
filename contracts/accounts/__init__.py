"""Events of the accounts domain: quota, reserved and given back."""

from contracts.accounts.quota_exceeded import QuotaExceeded
from contracts.accounts.quota_released import QuotaReleased
from contracts.accounts.quota_reserved import QuotaReserved

__all__ = ["QuotaExceeded", "QuotaReleased", "QuotaReserved"]
