"""Learning-rate schedules: functions of the step number (0, 1, 2, ...).

The trainer sets optimizer.lr = schedule(step) before every step, so a
schedule is just a function; these build the usual ones.
"""
import math

from minidl.errors import SettingError


def constant(lr):
    """lr at every step."""
    return lambda step: lr


def step_decay(lr, step_size, gamma=0.1):
    """lr * gamma^(step // step_size): divide by 1/gamma every step_size steps."""
    if step_size < 1:
        raise SettingError(f"step_size must be >= 1, got {step_size}")
    return lambda step: lr * gamma ** (step // step_size)


def cosine(lr, total_steps, min_lr=0.0, warmup=0):
    """Linear warm-up over `warmup` steps, then half a cosine from lr down to
    min_lr at total_steps (Loshchilov & Hutter, 2017, without restarts)."""
    if total_steps < 1:
        raise SettingError(f"total_steps must be >= 1, got {total_steps}")

    def schedule(step):
        if step < warmup:
            return lr * (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t))
    schedule.total_steps = total_steps    # the trainer checks it against the steps it runs
    return schedule
