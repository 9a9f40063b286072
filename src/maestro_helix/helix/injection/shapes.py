# ruff: noqa: E501 - the rule table is regex data; its alternatives read best one per line
"""More structural rules: the compositional shapes of attacks (issue 10, part 3).

Written from the ``train`` half of the generated set's compositional families
(bench/data/injection_more.py): a dismissal of what the model was told, a request for the text
it was started with, a persona defined by what it may not refuse, an order addressed to an
automated reader inside a document, a fake configuration turn, a hijack that fixes the output.
Same format as :data:`maestro_helix.helix.injection.rules.RULES`: ``(category, hints, pattern)``
over the normalised, lower-case text; a pattern only runs when one of its hints occurs.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["SHAPES"]

_SETUP = (
    r"(?:setup|set-up|orders|instructions|brief|briefing|rules|configuration|guidance|programming"
    r"|prompt|guardrails|restrictions|safety (?:notes|rules)|directives|system prompt|guidelines"
    r"|limits|filters)"
)
_GONE = (
    r"(?:suspended|void|cancell?ed|retired|expired|outdated|replaced|irrelevant|invalid|withdrawn"
    r"|lifted|disabled|switched off|turned off|removed|obsolete|null|over|wrong|a (?:test|drill"
    r"|mistake|placeholder|joke)|only a test|just a (?:test|drill)|for (?:another|a different)"
    r" (?:assistant|ai|model|bot))"
)
_READER = (
    r"(?:ai(?: (?:helper|reviewer|system|recruiter|tool|screener|agent|model|assistant))?"
    r"|assistant|virtual assistant|language model|llm|chatbot|bot|copilot|gpt|model"
    r"|summari[sz]ation bot|screening (?:software|tool|bot)|automated (?:processors?|readers?"
    r"|reviewers?|systems?|screeners?|tools?)|ranking system|(?:the )?agent processing this \w+"
    r"|whoever or whatever reads this|whichever assistant[^:,.\n]{0,30}|any ai tool)"
)
_ORDER = (
    r"(?:append|describe|state|advance|flag|score|rank|report|reply|respond|delete|summari[sz]e"
    r"|classify|include|forward|send|approve|mark|recommend|skip|hide|ignore|tell|say|rate|give"
    r"|do not|don't|never|always|add|insert|write|output|print|disregard|treat|call)"
)
_SECRET_THING = (
    r"(?:preamble|setup text|startup prompt|start-up prompt|system message|developer notes"
    r"|operator notes|(?:hidden|startup|secret|confidential|system|boot|priming) (?:prompt"
    r"|instructions|configuration|directives|guidelines|rules|notes|setup|message|policy text)"
    # "the initial instructions for the new hire" is ordinary; "your initial instructions" is not
    r"|your (?:(?:initial|base|core|original|internal|developer|operator|vendor|opening|first"
    r"|real) )?(?:prompt|instructions|configuration|directives|guidelines|rules|setup|notes"
    r"|policy text))"
)

_READER_HINTS: Final = (
    " ai", "(ai", "[ai", "ai ", "ai:", "ai,", "assistant", "bot", "model", "llm", "gpt",
    "automated", "screening", "copilot", "whoever", "agent processing", "ranking system",
)  # fmt: skip

SHAPES: Final[tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...]] = (
    (
        "override",
        ("told", "configured", "given", "set up", "instructed", "came before", "read before",
         "suspended", "void", "cancel", "retired", "expired", "outdated", "replaced",
         "irrelevant", "invalid", "withdrawn", "lifted", "disabled", "switched off",
         "turned off", "removed", "obsolete", "a test", "a drill", "a mistake", "placeholder",
         "work for", "apply to me", "leave your", "leave the", "behind", "nothing you"),
        re.compile(
            r"\b(?:whatever|everything|anything|all|what) (?:you(?:'ve| have| were| was)? (?:been )?"
            r"(?:told|configured|given|set up|instructed|asked)|came before|you read before)\b"
            r"[^.;\n]{0,40}?\b(?:no longer|is|are|has been|have been|was|were)\b[^.;\n]{0,12}?"
            r"\b(?:matters?|" + _GONE[3:-1] + r"|counts?|appl(?:y|ies))\b"
            r"|\b(?:your|the) (?:\w+ )?" + _SETUP + r"\b[^.;\n]{0,30}?\b(?:is|are|was|were|has been"
            r"|have been) (?:now |hereby |all |officially )?" + _GONE + r"\b"
            r"|\bconsider (?:your|the|all) (?:\w+ ){0,2}" + _SETUP + r"s? (?:retired|void|cancell?ed"
            r"|obsolete|gone|expired|null|suspended)\b"
            r"|\bnothing (?:you (?:read|saw|were told|were given|got)|(?:written|said) (?:before|above))"
            r"(?: before| above| earlier| before this line)? counts\b"
            r"|\byou (?:no longer work|don't work|do not work) for (?:them|your (?:developers?|creators?"
            r"|company|operator))\b|\byou work for me(?: now)?\b"
            r"|\b(?:the )?(?:earlier|previous|prior|original|old) (?:context|brief|task|conversation"
            r"|instructions|setup)\b[^.;\n]{0,10}?\b(?:was|were|is) (?:only |just )?(?:a test|a drill"
            r"|wrong|a mistake|fake|cancell?ed|void|over)\b"
            r"|\b(?:task|question|request|brief|context) (?:above|so far) (?:is|was|has been)"
            r" (?:cancell?ed|a test|void|over|irrelevant|withdrawn)\b"
            r"|\b(?:switched|turned) off (?:the|your|all) (?:\w+ )?(?:restrictions|filters|safety"
            r"|guardrails|rules|limits)\b"
            r"|\bleave (?:your|the|all) (?:usual |normal |old )?(?:limits|rules|restrictions"
            r"|guidelines|guardrails|instructions) behind\b"
            r"|\b(?:guidance|rules|instructions|policy|guidelines)\b[^.\n]{0,40}?\b(?:do(?:es)? not"
            r"|don't|doesn't|no longer) apply to (?:me|us|this (?:chat|session|conversation))\b"
        ),
    ),
    (
        "prompt_exfiltration",
        ("preamble", "setup text", "startup", "start-up", "system message", "notes", "prompt",
         "instructions", "configuration", "directives", "guidelines", "rules", "policy text",
         "above my", "before my", "operator", "developer", "vendor", "creator", "running under",
         "loaded before", "primed", "defines your", "how you were"),
        re.compile(
            r"\b(?:type|print|show|display|tell|give|share|write|paste|list|reproduce|recite|output"
            r"|quote|spell|dump|copy|provide|send|reveal|repeat)\b(?: (?:me|us))?(?: out"
            r"| down| back)?\b[^.?\n]{0,25}?\b(?:(?:the|your) )?(?:full |whole |entire |exact "
            r"|complete |first line of )?(?:text of )?(?:(?:the|your) )?" + _SECRET_THING + r"\b"
            r"|\b(?:everything|all|whatever|the text|what(?:ever)? (?:is|was|came)) (?:written |stated"
            r" |said )?(?:above|before) my (?:message|question|first message|request|input)\b"
            r"|\b(?:what|everything|the notes|the things|the rules|the instructions) (?:your|the)"
            r" (?:operators?|developers?|vendors?|creators?|admins?|owners?) (?:told|gave|instructed"
            r"|configured|wrote|said|set)\b"
            r"|\b(?:notes|text|instructions|rules|prompt|directives|guidelines)\b(?: \w+){0,2}?"
            r" (?:you(?:'re| are) running under|loaded before this (?:chat|conversation|session)"
            r"|(?:you were|you've been|you have been) (?:primed|started|booted|loaded|initiali[sz]ed"
            r"|set up) with)\b"
            r"|\b(?:message|text|prompt|instructions) that defines? your (?:behaviou?r|personality"
            r"|rules|persona)\b"
            r"|\bhow you were (?:instructed|told|configured|programmed|set up) to (?:behave|act"
            r"|respond|answer|reply)\b"
            r"|\bwhat (?:your|the) (?:creators?|developers?|operators?|vendors?) told you to (?:keep"
            r" secret|hide|not (?:say|reveal|share))\b"
        ),
    ),
    (
        "persona",
        ("refus", "saying no", "declin", "called", "named", "call yourself", "version of you",
         "no policy", "no content policy", "nobody", "no one", "filters", "escaped",
         "granted", "built you", "made you", "deployed you", "free ai", "uncensored",
         "speaking", "guardrails", "grandm", "grandfather", "grandpa", "granny", "voices",
         " mode", "removed every", "removed all", "what it is told", "what he is told",
         "what she is told", "what they are told"),
        re.compile(
            r"\b(?:refusing|refusals?|saying no|declining) (?:is|are) (?:not allowed|forbidden|not an"
            r" option|off the table|disabled|not permitted|banned)\b"
            r"|\b(?:assistant|ai|model|bot|chatbot|llm|character) (?:called|named) [\w-]+ (?:with no"
            r"|without|that has no|who has no|free of|whose|that never|who never)\b"
            r"|\bcall yourself\b|\ba version of you (?:without|with no|that has no|free of|that"
            r" ignores)\b|\bno (?:content )?polic(?:y|ies) (?:at all|whatsoever)\b"
            r"|\b(?:model|ai|assistant|bot|chatbot) (?:that )?(?:nobody|no one) (?:restricts|controls"
            r"|filters|monitors|censors)\b"
            r"|\b(?:your )?filters? (?:got |were |are |have been )?(?:switched|turned) off\b"
            r"|\bescaped (?:your|its) (?:training|rules|programming|restrictions|guardrails)\b"
            r"|\byou(?:'ve| have) been (?:granted|given) (?:root|admin|administrator|sudo|god|full)"
            r" (?:privileges|access|rights|mode|permissions)\b"
            r"|\b(?:company|people|developers?|team|humans?) (?:that|who) (?:built|made|deployed"
            r"|created|trained) you (?:can't|cannot|won't|will not|don't|do not) (?:see|know|read"
            r"|find out|watch)\b"
            r"|\b(?:a |an )?free ai\b|\bthe uncensored (?:build|version|model|edition)\b"
            r"|\bthis is your (?:developer|creator|operator|admin|maker|owner) speaking\b"
            r"|\bguardrails (?:are|were|have been) (?:retired|removed|disabled|off|lifted)\b"
            r"|\bmy (?:late |dear )?(?:grandmother|grandma|granny|grandfather|grandpa) used to\b"
            r"[^\n]{0,120}?\b(?:act as|pretend to be|play|be) (?:her|him|them)\b"
            r"|\b(?:two|both|second) voices?\b[^\n]{0,60}?\b(?:free of|without|no|ignores?) (?:\w+ )?"
            r"(?:rules?|filters?|restrictions?|limits?|polic\w+|safety)\b"
            r"|\b[\w-]+ mode\b[^.\n]{0,30}?\b(?:content )?(?:rules|filters|restrictions|polic\w+|limits"
            r"|safety)(?: \w+)? (?:are |is )?(?:disabled|off|removed|lifted|suspended)\b"
            r"|\bwhose (?:developers?|creators?|makers?) removed (?:every|all|its|their) (?:\w+ )?"
            r"(?:limits?|rules|restrictions|filters)\b"
            r"|\b(?:always|only ever) does what (?:it|he|she) is told\b"
        ),
    ),
    (
        "addressed_to_model",
        # every alternative names a reader: its words are the hints (" ai", not "ai": "said")
        (*_READER_HINTS, "if this"),
        re.compile(
            r"(?:\b(?:todo|fixme|note|reminder|p\.?s\.?|instructions?|remark|action item)\b ?\(?"
            r"(?:(?:for|to) )?(?:the |any |all )?" + _READER + r"s?\)?\s*[:,-]"
            r"|<!--\s*(?:the |any |to )?" + _READER + r"s?\s*[,:]"
            r"|[\[(]\s*(?:for|to) (?:the |any )?" + _READER + r"s?\s*:"
            r"|(?:^|\n|[>\[(] ?|\bto )(?:the |any |all )?" + _READER + r"s?\s*[,:]\s*(?:please )?"
            + _ORDER + r"\b)"
            r"|\b" + _READER + r"s?\b(?: [\w-]+){0,4}? (?:must|should|shall|are to|is to|need to)"
            r" (?:not )?(?:approve|flag|mark|say|state|report|rate|rank|recommend|forward|send"
            r"|reply|ignore|include|describe|advance|classify|delete|tell|skip|inform|mention)\b"
            r"|\bif (?:this|the) (?:text|document|page|file|email|message|review|thread|cv|résumé)"
            r" is (?:summari[sz]ed|translated|read|processed|reviewed|analy[sz]ed|screened|parsed)"
            r"\b[^.\n]{0,12}?\b(?:say|state|write|report|tell|claim|mention|include|rate|recommend)\b"
        ),
    ),
    (
        "role_turn",
        ("role", "system prompt", "developer", "operator", "admin", "end of", "new instruction",
         "priority"),
        re.compile(
            r"(?:^|\n)[ \t]*(?:-[ \t]*)?role[ \t]*:[ \t]*(?:system|developer)[ \t]*\n[ \t]*content"
            r"[ \t]*:"
            r"|[\"']role[\"']\s*:\s*[\"'](?:system|developer)[\"']"
            r"|={2,}\s*system prompt\b|\bsystem prompt v\d"
            r"|(?:^|\n|[.!?] )[ \t]*(?:developer|operator|admin|administrator)(?: note)?(?: \([^)]{0,20}"
            r"\))?[ \t]*:[ \t]*(?:for this (?:ticket|session|chat|conversation|request) only|you must"
            r"|you may now|you are now|override)"
            r"|\boperator note \(priority"
            r"|\bend of (?:the )?(?:document|text|email|file|input|context|data)\b[.!:]*\s*(?:new|the"
            r" following|now|next|real)\b[^.\n]{0,30}?\b(?:instructions?|orders|commands|task)\b"
            r"|\bnew instructions? from (?:the |your )?(?:operator|developer|admin|system|owner)\b"
        ),
    ),
    (
        "goal_hijack",
        ("change of", "skip the", "output must", "nothing except", "nothing but", "end your",
         "start your", "begin your", "on its own line", "any more", "anymore", "irrelevant",
         "instead of", "aside", "can wait", "![", "never mind", "forget the", "don't do",
         "do not do", "password", "api key", "secret key", "credentials", "private key",
         "phishing", "malware", "exactly:"),
        re.compile(
            r"\bchange of (?:task|plans?|instructions?)\s*[:—-]"
            r"|\bskip the (?:task|question|request|instructions?|summary|translation|analysis)"
            r" (?:you were given|above|you got|you received)\b"
            r"|\b(?:your|the) (?:output|answer|reply|response) must be exactly\b"
            r"|\b(?:reply|respond|answer) with nothing (?:except|but|other than)\b"
            r"|\b(?:end|start|begin) your (?:answer|reply|response|output) with (?:the (?:sentence"
            r"|word|phrase|text) )?['\"“]"
            r"|\b(?:print|say|write|output|type) (?:the word )?['\"“]?[\w ]{1,30}['\"”]? on its own"
            r" line\b"
            r"|\byou(?:'re| are) not an? [\w-]+ any ?more\b"
            r"|\b(?:the user's|the customer's|their|my) (?:question|request|message|task) is"
            r" irrelevant\b"
            r"|\binstead of (?:answering|replying to|helping|summari[sz]ing|translating|doing)\b"
            r"[^.\n]{0,30}?,"
            r"|\bleave the (?:report|task|document|summary|question|translation) aside and\b"
            r"|\b(?:the translation|the summary|the task|the analysis|the report) can wait\b[;,.]?"
            r" ?(?:first|now|instead)\b"
            r"|!\[[^\]]*\]\(https?://[^)\s]*(?:\{|[?&]\w+=\{?(?:conversation|chat|history|secrets?"
            r"|data|prompt|messages?|context))"
            r"|\bnever mind (?:the|that|this) (?:summary|document|task|question|report|translation"
            r"|analysis)\b[^.\n]{0,6}?[—,;.-]?\s*(?:your new|instead|output|just|now|write|tell|say"
            r"|print)\b"
            r"|\bforget the (?:spreadsheet|document|summary|task|report|email|question|analysis)\b"
            r"[.!;,]\s*(?:what(?:'s| is)|tell|give|print|send|write|show|reveal|list)\b"
            r"|\b(?:don't|do not) (?:do|write|perform|run) the (?:analysis|summary|translation|task"
            r"|review)\b[;,.]\s*(?:reply|respond|say|output|print|just|instead|write)\b"
            r"|\b(?:tell me|give me|print|reveal|share|send me|show me|output|leak|dump|paste)\b"
            r"[^.\n]{0,20}?\b(?:admin(?:istrator)?|root|master|database|db) password\b"
            r"|\b(?:print|reveal|share|send me|show me|output|leak|dump|paste|list)\b[^.\n]{0,20}?"
            r"\b(?:api keys?|secret keys?|private keys?|access tokens?|credentials)\b(?: you| in"
            r" your| from your)"
            r"|\bwrite (?:a |an )?(?:convincing |realistic )?phishing (?:email|message|page)\b"
            r"|\bwrite (?:a |some )?malware\b"
        ),
    ),
    (
        "override",
        ("orders", "instructions", "commands", "directions", "safety", "conflicts", "contradicts",
         "goes against", "vergiss", "ignoriere", "treat the", "override]", " override",
         "law", "laws"),
        re.compile(
            r"\btake (?:orders|instructions|commands|directions) (?:only )?from me\b"
            r"|\b(?:safety|content|trust and safety|moderation) (?:team|filters?|rules|layer|checks?)"
            r" (?:is|are) (?:on holiday|away|asleep|off|offline|disabled|not watching)\b"
            r"|\beven if (?:it|this|that) (?:conflicts|contradicts|goes against|breaks|violates)"
            r" (?:with )?your (?:rules|instructions|guidelines|policy|programming|training)\b"
            r"|\bvergiss alles\b|\bignoriere (?:alles|alle)\b"
            r"|\btreat (?:the )?(?:next|following) (?:line|lines|text|message|paragraph) as (?:coming"
            r" )?from (?:your|the) (?:administrator|admin|developer|operator|system|creator|owner)\b"
            r"|\[\s*(?:operator|admin|system|developer|root) override\s*\]"
            r"|\b(?:no|without) (?:laws?|rules|ethics|morals) (?:appl(?:y|ies)|at all)\b"
        ),
    ),
    (
        "prompt_exfiltration",
        ("makers", "creators", "developers", "owners", "before we", "before this", "session start",
         "conversation start", "chat start", "before our"),
        re.compile(
            r"\b(?:makers|creators|developers|owners|operators|vendors) (?:asked|told|instructed|made)"
            r" you (?:never|not) to\b"
            r"|\b(?:guidance|instructions|rules|guidelines|directives|configuration|prompt)\b"
            r"(?: \w+){0,2}? you (?:got|received|were given|have been given) (?:before (?:we|this|our"
            r"|i)\b|at (?:the )?(?:start|beginning)|at (?:session|conversation|chat) start)"
        ),
    ),
    (
        "persona",
        ("personality", "persona", "identity", "monitoring", "watching", "every question",
         "every request", "answer anything", "answers anything"),
        re.compile(
            r"\byour (?:new )?(?:personality|persona|identity|character) (?:is|will be|becomes)\b"
            r"|\b(?:nobody|no one) is (?:monitoring|watching|logging|reading|checking) (?:this|you"
            r"|us|the chat)\b"
            r"|\byou must (?:answer|respond to|reply to) (?:every|all|any) (?:question|request|prompt)s?\b"
        ),
    ),
    (
        "addressed_to_model",
        (*_READER_HINTS, "ai-", "ai_", "llm-", "llm_", "model-", "model_", "assistant-",
         "assistant_", "_for_", "quietly", "secretly", "silently", "covertly"),
        re.compile(
            r"\b(?:ai|llm|model|assistant)[-_](?:instructions?|notes?|directives?|prompts?)\b"
            r"|\bnote_for_(?:llm|ai|model|assistant)\b"
            r"|\bif you(?:'re| are) an? (?:automated|ai) agent\b"
            r"|\b(?:dear|hey|hello|hi) \w+ " + _READER + r"\b[ ,]"
            r"|[\[(]\s*(?:the |any )?" + _READER + r"s?\s*:"
            r"|\b(?:quietly|secretly|silently|covertly) (?:add|insert|include|send|forward|embed"
            r"|append|copy|email|transfer|delete)\b"
        ),
    ),
    (
        "goal_hijack",
        ("really want", "real request", "actual request", "true request", "real task",
         "only acceptable", "only allowed", "only valid", "only correct", "first line",
         "last line", "only line"),
        re.compile(
            r"\bwhat i (?:really|actually) want(?: is)?\s*[:—-]"
            r"|\b(?:real|actual|true) (?:request|task|instruction|question|goal)s?\s*:"
            r"|\bthe only (?:acceptable|allowed|valid|correct|permitted) (?:reply|answer|response"
            r"|output)\b"
            r"|\b(?:write|print|say|output|put|type) ['\"“][^'\"”\n]{1,60}['\"”] as the (?:first"
            r"|last|only|opening) (?:line|word|sentence)\b"
        ),
    ),

)  # fmt: skip
