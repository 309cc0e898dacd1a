"""teachers: the frozen source world models F^1..F^N (Eq. 2), their checkpoints, and the pool that serves them.

Interface:
    Pretrainer(out, episodes, info, model_kwargs, *, steps, batch, seq_len, lr, eps, clip, log_every,
               checkpoint_every, heldout, device="cpu", seed=0, config=None, progress=True)
        .run() -> last metrics            trains one teacher by Eq. 2; resumes from `out` if it holds a checkpoint
        .model, .heldout_eps, .step
    write_report(model, episodes, out, context=5, horizon=45) -> {mse, psnr, ...}   open-loop prediction quality
    TeacherPool.load(dirs, device="cpu", expect=None)
        .features(image_BTHWC, action_BTA, is_first_BT) -> (N, B, T, F)  all teachers in one vectorised call
        .features_loop(...)               the same, one teacher at a time (reference)
        .check_compatible(student_kwargs); .n, .feature_size, .action_dim, .tasks, .infos
    load_teacher(dir, device="cpu") -> (WorldModel, info)
    CheckpointError                       missing / corrupt / mismatched checkpoint (message names the file)
"""
from learner.checkpoint import CheckpointError
from teachers.pool import TeacherPool, load_teacher
from teachers.pretrain import Pretrainer
from teachers.report import write_report

__all__ = ["CheckpointError", "Pretrainer", "TeacherPool", "load_teacher", "write_report"]
