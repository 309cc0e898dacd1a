"""learner.pvdr: PVDR's models (Luo, Zhou and Lu, ECCV 2024), in torch only.

    PvdrConfig                              `pvdr.*` keys: sizes (Tables 1-2), planning, adaptation, PPO (Table 3)
    Tokenizer(image_size, grid, codebook, code_dim, channels)   VQ tokenizer: .encode / .decode / .loss
    STTransformer(dim, heads, depth, window, causal)            spatial-temporal attention over (B, T, h, w, D)
    VisualDynamicsModel(cfg)                CVAE over snippets (Eq. 1): .posterior / .prior / .generate / .loss
"""
from learner.pvdr.config import PvdrConfig
from learner.pvdr.cvae import VisualDynamicsModel, kl_normal
from learner.pvdr.st import STTransformer
from learner.pvdr.tokenizer import Tokenizer

__all__ = ["PvdrConfig", "STTransformer", "Tokenizer", "VisualDynamicsModel", "kl_normal"]
