"""Currencies: the ISO 4217 codes a domain's amounts may be in, their symbols, and money written for a reader.

A domain's amounts (claims payouts and AWS costs, LLM costs, conversation savings) are in the currency its setting
names (``ANALYTICS_CURRENCY``); nothing is converted, the setting says what the numbers are.
"""

from __future__ import annotations

# ISO 4217 alphabetic codes in use (list one, 2025), with the funds and precious-metal codes it lists.
ISO_4217_CODES = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD
    OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU
    XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG
""".split())
# Symbols a reader knows without the code; any other currency is written with its code ("CHF 12.00").
SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€", "JPY": "¥", "INR": "₹", "KRW": "₩", "ILS": "₪", "NGN": "₦",
           "PHP": "₱", "UAH": "₴", "VND": "₫", "TRY": "₺"}


def is_currency_code(code: str) -> bool:
    return code in ISO_4217_CODES


def symbol(code: str) -> str:
    """The prefix an amount in ``code`` is written with: its symbol, or the code and a space."""
    return SYMBOLS.get(code, code + " ")


def money(value: float, code: str) -> str:
    """``£1,234.50``, ``-$0.42``, ``CHF 12.00``: two decimals, thousands separated."""
    return f"{'-' if value < 0 else ''}{symbol(code)}{abs(value):,.2f}"
