"""Numbers as a trader reads them: money in the account currency with its digits, the account's type by name."""

from __future__ import annotations

TRADE_MODES = {0: "Demo", 1: "Contest", 2: "Real"}  # ACCOUNT_TRADE_MODE_DEMO, _CONTEST, _REAL
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "AUD": "A$", "CAD": "C$"}


def money(value: float, currency: str, digits: int = 2, signed: bool = False) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    amount = f"{abs(value):,.{max(0, min(digits, 8))}f}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def margin_level(value: float, margin: float) -> str:
    """MT5 reports 0 when no margin is used; show that as a dash, not as 0 %."""
    return "—" if margin <= 0 else f"{value:,.2f} %"


def rule_amount(value: float | None, unit: str) -> str:
    """A risk rule's value in its unit, as the panel, the toasts and the alerts say it: ``4.20%``, ``1,250.00 USD``,
    ``3 positions`` (a count is whole), ``1.50 lots``."""
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:,.2f}%"
    if unit == "positions":
        return f"{value:,.0f} position" + ("" if round(value) == 1 else "s")
    if unit == "lots":
        return f"{value:,.2f} lots"
    return f"{value:,.2f} {unit}"
