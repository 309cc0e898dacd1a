"""teachers: the frozen source world models F^1..F^N (Eq. 2), their checkpoints, and the pool that serves them.

Interface:
    TeacherConfig                         pretraining settings (`teacher.*` keys)
    Pretrainer(out, episodes, info, model_kwargs, TeacherConfig, *, device="cpu", seed=0, config=None, progress)
        .run() -> last metrics            trains one teacher by Eq. 2; resumes from `out` if it holds a checkpoint
        .model, .heldout_eps, .step
    PvdrPretrainer(out, episodes, info, PvdrConfig, image_size=, ...)   PVDR's tokenizer then dynamics CVAE (its
        Eq. 1) on source frames: .run() (resumes), .report(dir) (predicted snippets beside the truth);
        snippet_video(tokenizer, model, frames) -> (m + l, H, 4W, 3) uint8 for TensorBoard;
        write_snippet_report(tokenizer, model, episodes, out, title) -> its PNG + JSON
    write_report(model, episodes, out, context=5, horizon=45) -> {mse, psnr, ...}   open-loop prediction quality
    openloop_video(model, sequence, context=5) -> (T, H, 3W, 3) uint8: truth | model | error, for TensorBoard
    TeacherPool.load(dirs, device="cpu", expect=None)
        .features(image_BTHWC, action_BTA, is_first_BT) -> (N, B, T, F)  all teachers in one vectorised call
        .features_loop(...)               the same, one teacher at a time (reference)
        .check_compatible(student_kwargs); .n, .feature_size, .action_dim, .tasks, .infos
    load_teacher(dir, device="cpu") -> (WorldModel, info);  teacher_info(dir) -> sidecar (no tensors read)
    Teachers                              the features protocol the learner uses: request / resolve / source_pairs,
                                          feature_size, domains (source task names, for metric keys)
    LocalTeachers(pool)                   the protocol in the caller's process
    TeacherService(dirs, device)          the protocol speaking numpy: the body of a teacher actor
    BATCH_KEYS                            the batch fields teachers read
    ARCH_KEYS                             the WorldModel kwargs that fix a model's features (sizes)
"""
from teachers.config import TeacherConfig
from teachers.pool import ARCH_KEYS, TeacherPool, load_teacher
from teachers.pretrain import Pretrainer
from teachers.pvdr_pretrain import PvdrPretrainer
from teachers.pvdr_report import snippet_video, write_snippet_report
from teachers.report import openloop_video, write_report
from teachers.service import BATCH_KEYS, LocalTeachers, Teachers, TeacherService, domain_names, teacher_info

__all__ = ["ARCH_KEYS", "BATCH_KEYS", "LocalTeachers", "Pretrainer", "PvdrPretrainer", "TeacherConfig", "TeacherPool",
           "TeacherService", "Teachers", "domain_names", "load_teacher", "openloop_video", "snippet_video",
           "teacher_info", "write_report", "write_snippet_report"]
