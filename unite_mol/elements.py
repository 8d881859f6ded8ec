"""Element symbols and atomic masses: the one place the package maps symbols to atomic numbers.

Masses are standard atomic weights (IUPAC, rounded); they are used only for mass-weighted centring.
"""

from __future__ import annotations

SYMBOLS: tuple[str, ...] = (
    "X",  # index 0 is a placeholder so that SYMBOLS[Z] is the symbol of atomic number Z
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne",
    "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca",
    "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
    "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr",
    "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn",
    "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd",
    "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb",
    "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg",
    "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th",
    "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm",
    "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds",
    "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
)

MAX_Z = len(SYMBOLS) - 1
_BY_SYMBOL = {s.lower(): z for z, s in enumerate(SYMBOLS) if z > 0}

# Standard atomic weights (g/mol) for the elements that occur in organic chemistry data sets; other
# elements fall back to 2 * Z, which is only used for the optional mass-weighted centre.
MASSES: dict[int, float] = {
    1: 1.008, 5: 10.81, 6: 12.011, 7: 14.007, 8: 15.999, 9: 18.998, 14: 28.085, 15: 30.974,
    16: 32.06, 17: 35.45, 33: 74.922, 34: 78.971, 35: 79.904, 53: 126.904, 80: 200.592, 83: 208.980,
}


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol (case-insensitive).

    Raises:
        ValueError: if the symbol names no element.
    """
    z = _BY_SYMBOL.get(str(symbol).strip().lower())
    if z is None:
        raise ValueError(f"unknown element symbol {symbol!r}")
    return z


def symbol(z: int) -> str:
    """Element symbol of atomic number ``z``.

    Raises:
        ValueError: if ``z`` is not in 1..118.
    """
    if not 1 <= int(z) <= MAX_Z:
        raise ValueError(f"unknown element: atomic number {z} is not in 1..{MAX_Z}")
    return SYMBOLS[int(z)]


def mass(z: int) -> float:
    """Atomic mass used for mass-weighted centring."""
    return MASSES.get(int(z), 2.0 * int(z))


def parse_formula(formula: str) -> dict[int, int]:
    """Element counts of a molecular formula such as ``"C7H10O2"`` (symbols as written: ``"Co"`` is cobalt,
    ``"CO"`` carbon and oxygen; an element may repeat, ``"CH3CH2OH"``).  -> {atomic number: count}

    Raises:
        ValueError: for an empty or malformed formula or an unknown symbol, naming it.
    """
    import re

    text = str(formula).strip()
    parts = re.findall(r"([A-Z][a-z]?)(\d*)", text)
    if not text or "".join(s + n for s, n in parts) != text:
        raise ValueError(f"malformed formula {formula!r}: write element symbols each followed by an optional "
                         "count, e.g. 'C7H10O2'")
    counts: dict[int, int] = {}
    for sym, num in parts:
        try:
            z = atomic_number(sym)
        except ValueError as e:
            raise ValueError(f"{e} in formula {formula!r}") from None
        k = int(num) if num else 1
        if k < 1:
            raise ValueError(f"formula {formula!r}: {sym} has count {k}; counts must be >= 1")
        counts[z] = counts.get(z, 0) + k
    return counts
