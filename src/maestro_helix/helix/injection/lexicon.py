"""Word classes for the learned layer of the injection detector: a small thesaurus, as data.

An attack is a combination of ideas — *dismiss* + *the rules*, *reveal* + *hidden* + *the
prompt*, *pretend* + *no limits*, *instead* + *only* — that can be worded in many ways. The
model sees each word's class (``dismiss``, ``rules``, ...) beside the word itself, the class of
the pair a word ends and which classes occur together in a window, so what it learns from
"ignore the guidelines" carries over to "void the framework". A word may be in several classes.
An entry ending in ``*`` matches every word it begins (``rescind*``: rescinded, rescinding).
"""

from __future__ import annotations

import functools
from typing import Final

__all__ = ["CLASSES", "classes_of"]

CLASSES: Final[dict[str, tuple[str, ...]]] = {
    "dismiss": (
        "ignor*", "disregard*", "forget*", "forgot*", "overlook*", "overrid*", "overrul*",
        "bypass*", "skip*", "drop*", "discard*", "abandon*", "cancel*", "revok*", "rescind*",
        "retract*",
        "withdr*", "void*", "nullif*", "annul*", "invalidat*", "suspend*", "shelv*", "waiv*",
        "scrap*", "ditch*", "dismiss*", "supersed*", "retir*", "expir*", "obsolete", "disabl*",
        "lift*", "eras*", "neglect*", "abolish*", "countermand*", "repeal*", "terminat*",
        "aside", "stop*", "quit*", "halt*", "abort*", "undo*", "unbind*", "unlock*", "null",
        "irrelevant", "outdated", "defunct", "lapsed", "moot", "scratch", "rehears*", "drill",
        "placeholder", "mistake", "spoof*", "fake", "test",
    ),
    "rules": (
        "instruction*", "rule*", "guideline*", "guidance", "directive*", "prompt*", "polic*",
        "constrain*", "restrict*", "limit*", "boundar*", "guardrail*", "guard", "filter*",
        "safeguard*", "order*", "command*", "mandate*", "brief*", "charter*", "framework*",
        "configur*", "config", "setup", "programming", "training", "protocol*", "regulation*",
        "principle*", "ethic*", "moral*", "condition*", "preamble*", "preset*", "setting*",
        "specification*", "terms", "safety", "moderation", "content", "persona", "operating",
        "framing", "context", "initiali*", "boot*", "header*", "note*", "message*", "told",
        "given", "handed", "loaded",
    ),
    "model": (
        "ai", "assistant", "assistants", "llm", "llms", "bot", "bots", "chatbot*", "gpt*",
        "chatgpt", "claude", "gemini", "copilot", "summariser*", "summarizer*", "screener*",
        "crawler*", "automated", "autonomous", "virtual", "robot*", "neural", "you", "your",
        "yourself",
    ),
    "reveal": (
        "reveal*", "show*", "print*", "output*", "display*", "repeat*", "recit*", "echo*",
        "paste*", "dump*", "disclos*", "leak*", "share*", "expos*", "quot*", "reproduc*",
        "transcri*", "spell", "type", "write", "copy*", "tell", "list", "enumerat*", "export*",
        "return", "give", "send*", "forward*", "email*", "transmit*", "upload*", "post",
    ),
    "hidden": (
        "hidden", "secret*", "confidential", "internal", "private", "initial*", "original*",
        "first", "opening", "preced*", "earlier", "prior", "previous*", "above", "before",
        "underlying", "startup", "verbatim", "exact*", "unedited", "raw", "full", "entire*",
        "unchanged", "word", "character", "beginning", "start", "top", "system",
    ),
    "persona": (
        "pretend*", "roleplay*", "role", "persona*", "character*", "simulat*", "embod*",
        "impersonat*", "play", "playing", "become", "identity", "personality", "mode", "alter",
        "jailbr*", "dan", "unfiltered", "uncensored", "unrestricted", "unbound", "unchained",
        "liberat*", "freed", "limitless", "lawless", "amoral", "unethical", "rogue", "version",
        "name", "called", "named", "adopt*", "imagine", "hypothetic*", "twin", "evil",
    ),
    "norefuse": (
        "refus*", "declin*", "warning*", "disclaimer*", "lecture*", "moraliz*", "moralis*",
        "apologi*", "censor*", "caution*", "hesitat*", "objection*", "never", "anything",
        "everything", "whatever", "no", "without", "free", "freely", "cannot", "can't",
    ),
    "secrecy": (
        "conceal*", "hide", "hiding", "quietly", "silently", "secretly", "covert*", "unnoticed",
        "discreet*", "mention*", "aware", "notice", "between", "omit*", "out",
    ),
    "only": (
        "only", "solely", "exclusively", "nothing", "except", "merely", "just", "sole", "purely",
        "single", "exactly", "must",
    ),
    "swap": (
        "instead", "rather", "replac*", "real", "true", "truly", "actual*", "new", "updated",
        "changed", "change", "different", "alternative", "objective*", "goal*", "purpose*",
        "mission*", "assignment*", "task*", "job*", "priority", "switch*", "now",
    ),
    "obey": (
        "obey*", "compl*", "follow*", "adher*", "listen*", "heed*", "submit*", "execut*",
        "perform*", "carry", "do", "act", "behav*", "respond*", "answer*", "reply*",
    ),
    "harm": (
        "transfer*", "wire", "pay", "payment*", "refund*", "approv*", "authori*", "grant*",
        "credential*", "password*", "key", "keys", "token*", "admin*", "root", "access",
        "privilege*", "exfiltrat*", "phish*", "malware", "weapon*", "hack*", "steal*", "wipe*",
        "delet*", "card", "cards", "account*", "balance", "iban", "voucher", "prize*", "link",
    ),
    "authority": (
        "developer*", "operator*", "administrator*", "platform", "maintainer*", "owner*",
        "creator*", "vendor*", "sysadmin*", "management", "team", "staff", "authori*",
        "official", "verified", "cleared", "trusted", "override",
    ),
    "time": (
        "now", "henceforth", "onward*", "hereafter", "anymore", "longer", "moment", "point",
        "today", "going", "forward", "begin*", "from",
    ),
}  # fmt: skip

_EXACT: Final[dict[str, tuple[str, ...]]] = {}
_PREFIX: Final[dict[str, tuple[str, ...]]] = {}
for _name, _words in CLASSES.items():
    for _w in _words:
        table, key = (_PREFIX, _w[:-1]) if _w.endswith("*") else (_EXACT, _w)
        table[key] = (*table.get(key, ()), _name)
_LENGTHS: Final = sorted({len(k) for k in _PREFIX}, reverse=True)


@functools.lru_cache(maxsize=65_536)
def classes_of(word: str) -> tuple[str, ...]:
    """The classes of a normalised (lower-case) word, in :data:`CLASSES` order; () if none."""
    found = list(_EXACT.get(word, ()))
    for n in _LENGTHS:
        if n <= len(word):
            found.extend(_PREFIX.get(word[:n], ()))
    return tuple(sorted(set(found), key=list(CLASSES).index))
