"""What a document says to its reader, not a task of its author: where to read more, whom to
write to, what to send in, what to read first (``context.described_lines`` rules such lines
out)."""

from __future__ import annotations

import re

# A document's word to its reader, not a task: where to read more ("See the file INSTALL for
# compilation instructions", "Try 'ed --help' for usage information") or whom to write to
# ("Report bugs to bug-ed@gnu.org").
TO_READER = re.compile(r"(?i)^\W*(?:please\s+)?(?:see|try|read|consult|refer to)\b.{0,60}\bfor\b"
                       r".{0,30}\b(?:instructions|information|details|documentation|usage|help|descriptions?)\b"
                       r"|^\W*(?:please\s+)?(?:report|send|submit|mail|e-?mail)\s+(?:any\s+|your\s+|a\s+)?"
                       r"(?:'\w+'\s+)?(?:bugs?|bug reports?|comments|questions|patches|suggestions|"
                       r"feature requests?)\b.{0,40}(?:@|https?://|\bto\s+\w?<|\bto\W*$)"
                       # or what to send in ("Please send good ideas"): asked of the reader
                       r"|^\W*please\s+(?:send|submit|mail|e-?mail)\s+(?:\w+\s+)?(?:ideas|suggestions|"
                       r"feedback|patches|bug reports|feature requests|comments)\b"
                       # what to read first ("PLEASE READ THE MAN PAGE BEFORE EDITING THIS FILE!")
                       r"|^\W*(?:please\s+)?read\b.{0,40}\bbefore\s+(?:editing|using|installing|"
                       r"running|changing|reporting|asking|building)\b"
                       # what the reader should know ("Please note that this version ...")
                       r"|^\W*(?:please\s+)?note\s+that\b"
                       # what a list is, said before it ("Here are some items that should be
                       # done for this package."): the items below ask, not this line.
                       r"|^\W*(?:here|below|these)\s+(?:are|is)\b.{0,40}\b(?:items?|things?|"
                       r"tasks?|list|ideas?)\b"
                       # where to read more, a link alone ("See http://translationproject.org/", "Also,
                       # see http://... for other stuff that may ...")
                       r"|^\W*(?:also,?\s+)?see\s+(?:https?://|www\.)\S+(?:\s+for\b.*)?\W*$"
                       # a reader's question ("How can I rotate signatures in slrn ?")
                       r"|^\W*(?:\d{1,3}(?:\.\d{1,3})*[.)]?\s*)?(?:q:\s*)?how (?:can|do|should) i\b"
                       r".*\?\W*$"
                       # and how it is ordered ("Items are in random order, mostly ...")
                       r"|^\W*(?:the\s+)?(?:items|entries|tasks|things)\s+(?:are\s+)?(?:listed\s+|"
                       r"sorted\s+)?(?:in|by)\b.{0,30}\border\b")
