"""Learning-rate schedules: functions of the step number (0, 1, 2, ...).

The trainer sets optimizer.lr = schedule(step) before every step, so a
schedule is just a function; these build the usual ones.
"""
import math

from minidl.errors import SettingError, check_int, check_number


def _rate(owner, name, value, positive=True):
    """A learning rate or factor: a finite number > 0 (>= 0 with positive=False)."""
    return check_number(owner, name, value, (lambda v: v > 0) if positive else (lambda v: v >= 0),
                        "a number > 0" if positive else "a number >= 0")


def constant(lr):
    """lr at every step."""
    lr = _rate("constant", "lr", lr)

    def schedule(step):
        return lr
    schedule.warmup = 0                   # the trainer's divergence advice: no warm-up
    return schedule


def step_decay(lr, step_size, gamma=0.1):
    """lr * gamma^(step // step_size): divide by 1/gamma every step_size steps."""
    lr = _rate("step_decay", "lr", lr)
    gamma = check_number("step_decay", "gamma", gamma, lambda v: 0 < v <= 1,
                         "in (0, 1]: it multiplies the rate, so 0.1 divides it by 10 (a gamma "
                         "above 1 would make the rate grow)")
    step_size = check_int("step_decay", "step_size", step_size)

    def schedule(step):
        return lr * gamma ** (step // step_size)
    schedule.step_size, schedule.gamma = step_size, gamma   # the trainer checks the decay
    schedule.warmup = 0
    return schedule


def cosine(lr, total_steps, min_lr=0.0, warmup=0):
    """Linear warm-up over `warmup` steps, then half a cosine from lr down to
    min_lr at total_steps (Loshchilov & Hutter, 2017, without restarts)."""
    lr, min_lr = _rate("cosine", "lr", lr), _rate("cosine", "min_lr", min_lr, positive=False)
    total_steps = check_int("cosine", "total_steps", total_steps)
    warmup = check_int("cosine", "warmup", warmup, 0)
    if warmup > total_steps:      # lr would never be reached
        raise SettingError(f"cosine: warmup ({warmup} steps) is longer than total_steps "
                           f"({total_steps}), so the learning rate would never reach lr; both "
                           "count steps, not epochs")
    if min_lr > lr:
        raise SettingError(f"cosine: min_lr ({min_lr:g}) is above lr ({lr:g}): the rate would "
                           "rise instead of decay; min_lr is where it ends (0 by default)")

    def schedule(step):
        if step < warmup:
            return lr * (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t))
    schedule.total_steps = total_steps    # the trainer checks it against the steps it runs
    schedule.warmup = warmup              # its divergence advice mentions a warm-up
    return schedule
