"""Numbers as a trader reads them: money in the account currency with its digits, MT5's codes by name (the account's
type, a position's and an order's type, a deal's type and entry), for the grids and the CSV files alike."""

from __future__ import annotations

TRADE_MODES = {0: "Demo", 1: "Contest", 2: "Real"}  # ACCOUNT_TRADE_MODE_DEMO, _CONTEST, _REAL
POSITION_TYPES = {0: "Buy", 1: "Sell"}  # POSITION_TYPE_BUY, _SELL
# ORDER_TYPE_BUY … ORDER_TYPE_CLOSE_BY
ORDER_TYPES = {
    0: "Buy", 1: "Sell", 2: "Buy Limit", 3: "Sell Limit", 4: "Buy Stop", 5: "Sell Stop",
    6: "Buy Stop Limit", 7: "Sell Stop Limit", 8: "Close By",
}  # fmt: skip
# DEAL_TYPE_BUY … DEAL_TAX, and DEAL_ENTRY_IN … DEAL_ENTRY_OUT_BY
DEAL_TYPES = {
    0: "Buy", 1: "Sell", 2: "Balance", 3: "Credit", 4: "Charge", 5: "Correction", 6: "Bonus", 7: "Commission",
    8: "Commission daily", 9: "Commission monthly", 10: "Agent commission daily", 11: "Agent commission monthly",
    12: "Interest", 13: "Buy canceled", 14: "Sell canceled", 15: "Dividend", 16: "Dividend franked", 17: "Tax",
}  # fmt: skip
DEAL_ENTRIES = {0: "In", 1: "Out", 2: "In/Out", 3: "Out by"}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "AUD": "A$", "CAD": "C$"}


def money(value: float, currency: str, digits: int = 2, signed: bool = False) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    amount = f"{abs(value):,.{max(0, min(digits, 8))}f}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def margin_level(value: float, margin: float) -> str:
    """MT5 reports 0 when no margin is used; show that as a dash, not as 0 %."""
    return "—" if margin <= 0 else f"{value:,.2f} %"


def code_name(names: dict[int, str], code: int) -> str:
    """A code's name, or the number itself for a code MT5 added after this table."""
    return names.get(code, str(code))


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
