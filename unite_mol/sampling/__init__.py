"""Sampling: one :class:`SamplerConfig` (every setting and default), the :class:`Sampler` that runs it, and
the :class:`Guidance` protocol with valence guidance (:class:`ValenceGuidance`).

    from unite_mol import load_model
    from unite_mol.sampling import Sampler, SamplerConfig

    sampler = Sampler(load_model(), SamplerConfig(restarts=1))
    arrays = sampler.run(100, seed=0)      # (atomic numbers, positions, bond rows) per sample

:func:`unite_mol.generate` wraps this and builds :class:`~unite_mol.molecule.Molecule` objects.
"""

from unite_mol.sampling.config import SamplerConfig, SettingTypeError
from unite_mol.sampling.draws import draw_starts, formula_composition, sample_generator
from unite_mol.sampling.guidance import Guidance, SamplingAdapter, ValenceGuidance, frozen
from unite_mol.sampling.sampler import Sampler, resolve_valence_steps

__all__ = ["Guidance", "Sampler", "SamplerConfig", "SamplingAdapter", "SettingTypeError", "ValenceGuidance",
           "draw_starts", "formula_composition", "frozen", "resolve_valence_steps", "sample_generator"]
