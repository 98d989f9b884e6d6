"""Crude keywords shared by the simulator and the section chooser: content words and a short stem."""

from __future__ import annotations

import re

_STOP = set("""a an the and or but if of to in on at by for with from into onto as is are was were be been
being it its this that these those your you yours our we they them their there here what which who whom
whose when where why how does do did done has have had can could should would will shall may might must
not no nor any each every all some such than then so very just only also about above below over under
output answer response reply text result please make sure ensure always never least most more less
using use used other same own both between while after before during because without within upon""".split())
STOP_WORDS = frozenset(_STOP)

def stem(word: str) -> str:
    """A crude stem shared by the follower and the judge so their keywords meet."""
    w = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    return w[:5]


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", text) if len(w) >= 4 and w.lower() not in _STOP]
