"""Whether a question asks what each side says ("How did each side...", "What did Moscow and Kyiv say...").

Such a question is answered by several voices, so its plain answer interleaves sources (see
``Engine.ask``) instead of merely keeping one source from filling it.
"""

from __future__ import annotations

import re

_EACH = re.compile(r"\b(?:each|every|all|both|either)\s+(?:side|capital|party|parties|government|camp)s?(?:['’]s?)?\b",
                   re.IGNORECASE)
# A voice: a capitalised name of one or more words ("Moscow", "the White House"), or a kind of source.
_VOICE = r"(?:the\s+)?(?:[A-Z][\w'’\-]*(?:\s+[A-Z][\w'’\-]*)*|op-ed|editorial|press)"
# Several voices as the subject of the question's verb ("did Moscow, Kyiv and Washington characterise"),
# or as its agents ("presented by Moscow, by Washington and by the op-ed").
_JOINED = re.compile(rf"\b(?:did|do|does|have|has|had|was|were|is|are)\s+{_VOICE}(?:\s*,\s*{_VOICE})*,?\s+and\s+{_VOICE}\s+[a-z]")
_AGENTS = re.compile(rf"\bby\s+{_VOICE}(?:\s*,\s*(?:by\s+)?{_VOICE})*,?\s+and\s+(?:by\s+)?{_VOICE}")


def asks_each_side(question: str) -> bool:
    return any(pattern.search(question) for pattern in (_EACH, _JOINED, _AGENTS))
