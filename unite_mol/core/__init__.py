"""The domain-agnostic UNITE core: network, flow, objective, samplers, trainer, and the one function that trains
every entry (:func:`train_entry`).

Nothing in here knows about molecules or images: it sees latent token sets, masks, times and conditions.
"""

from unite_mol.core.entry import ENTRIES, train_entry
from unite_mol.core.flow import flow_loss, interpolate, sample_time, velocity
from unite_mol.core.model import PRESETS, DecoderTrunk, GEConfig, GenerativeEncoder, preset
from unite_mol.core.samplers import guided, sample
from unite_mol.core.two_stage import TwoStageConfig, freeze_vae, latent_flow_loss, vae_loss
from unite_mol.core.unite import Tokens, UniteConfig, UniteModel, unite_loss, unite_terms

__all__ = ["GEConfig", "PRESETS", "preset", "GenerativeEncoder", "DecoderTrunk", "UniteConfig", "UniteModel",
           "Tokens", "unite_loss", "unite_terms", "interpolate", "velocity", "sample_time", "flow_loss", "sample", "guided", "TwoStageConfig", "vae_loss", "latent_flow_loss", "freeze_vae",
           "ENTRIES", "train_entry"]
