"""Qualitative tasks: the words of an article that carry no amount, rate or target.

DESIGN.md: an article without money is still represented, as a task assigned to its lead
department; nothing in the document is silently dropped. A sentence is cut into clauses at
, ; : and each clause is either *numeric* (it holds an amount, a rate or a target the other
finders read) or not. The non-numeric clauses of a sentence, in runs that stop at a numeric
clause or at ;, become tasks:

    實施專利轉化運用專項行動,打通專利轉化關鍵堵點,推動專利產業化,年度新增專利密集型產品認定50件以上。
        -> task "實施專利轉化運用專項行動,打通專利轉化關鍵堵點,推動專利產業化"  (the target is an indicator)
    提高電動自行車新車購買補貼力度。
        -> task "提高電動自行車新車購買補貼力度", kind benefit (補貼 without a number)

Every such run is a task, whatever its verbs, except what only frames the numbers of its
sentence: when they apply (2025年, 企業孵化期內: TIME_FRAME) and, right before a numeric
clause, the subject, procedure or occasion of a benefit (對首次認定的高新技術企業, 眾創空間…每培育
1家…的, 根據具體項目管理辦法, 以…為契機: see CONDITION_SUBJECT). So a provision is never dropped
for want of a known verb; VERBS only decides whether a 對/根據 clause acts, and whether an
amount inside a clause is a threshold of a task (持續優化3億元以上項目…管理機制) or a benefit.

Kind `benefit` marks a task that grants something without a number (給予相應補助, 貼息, 費率);
the rule pack encodes those as by_measure rules. The article's heading sentence ((一)推動高能級
科創平臺提質增效。) is its title, not a task.
"""

from __future__ import annotations

import re

from zhida.source.model import Area, Sentence, Span, Task, TaskKind

CLAUSE_BREAK = re.compile("[,;:。!?]")
# Actions a department answers for (Simplified: matched on the canonical text).
VERBS = re.compile(
    "推进|实施|建设|打造|培育|支持|鼓励|加快|完善|深化|推动|建立|健全|优化|落实|发挥|引导|提升|加大|加强"
    "|开展|探索|争取|争创|迭代|强化|扩大|用好|办好|举办|发展|构建|取消|允许|制定|指导|安排|开通|延续|继续"
    "|持续|聚焦|研究|简化|提高|开辟|助力|推广|规范|做实|做深|保障|申报|统筹|推荐|设立|引进|营造|创建|申建"
    "|推开|整治|消除|增加|启动|满足|促进|参与|带动|挖掘|抢抓|谋划|拓展|实行|开发|运用|使用|打通|降低|平衡"
    "|整体提升|会商|实现|全面|深入|做好|搭建|组建|赴|统一办理|防范|治理|开工|达到|提振"
)
# What grants something to a subject who could claim it.
BENEFIT = re.compile(
    r"给予|予以支持|补贴|补助|奖励|贴息|优惠|减免|费率|享受|退税|风险补偿|续贷|绿色通道政策|提级保障|应保尽保"
)
# Two-part grants, tested with find rather than a lazy regex so that a hostile run of 納入 stays linear:
# 納入…培育庫 / 納入…清單 within a clause, 專項資金…支持 within a run.
CLAUSE_SPLIT = re.compile("[,;:。]")
# The city asking the province or the state for money or a policy: work, not a benefit to a subject.
SEEKING = re.compile(r"(?:全力|积极)?争取")
# When the numbers of a sentence apply (2025年, 企業孵化期內): read with them, not a task.
TIME_FRAME = re.compile(r"(?:20\d\d年(?:度|底|内)?|[^,;:。]{0,12}期(?:内|间))")
# A budget or the stated total is an amount, never a task.
BUDGET = re.compile(r"预算|支持总额")
# Clauses that open a benefit are read with the numbers after them, not as tasks of their own:
# 對首次認定的高新技術企業 / …的 (its subject), 根據具體項目管理辦法 (its procedure),
# 以國家服務型制造示范城市建設為契機 (its occasion).
# One that opens with 對 (its subject) or closes with 的 or 為契機 always is; one that opens with
# 根據/按照 is when it does not act itself; one that grants (對新認定的給予相應補助) never is.
CONDITION_SUBJECT = re.compile(r"^对|(?:的|为契机)$")
CONDITION_PROCEDURE = re.compile(r"^(?:根据|按照)")


def find_tasks(
    text: str,
    canonical: str,
    areas: tuple[Area, ...],
    numbers: list[Span],
    amounts: list[Span],
) -> list[Task]:
    """The tasks of every article and goal paragraph.

    `numbers` are the spans of rates and targets; `amounts` those of money. A clause whose only
    number is an amount stays a task when it acts and grants nothing (持續優化3億元以上項目“三庫三單”…
    管理機制: the amount is a threshold inside the task).
    """
    numeric = bytearray(len(canonical))
    for span in numbers:
        numeric[span.start : span.end] = b"\x01" * (span.end - span.start)
    money = bytearray(len(canonical))
    for span in amounts:
        money[span.start : span.end] = b"\x01" * (span.end - span.start)
    tasks: list[Task] = []
    for area in areas:
        for sentence in area.goals:
            tasks.extend(_sentence_tasks(text, canonical, (numeric, money), sentence, area, None))
        for article in area.articles:
            for position, sentence in enumerate(article.sentences):
                if position == 0 and _is_heading(canonical, article.span, sentence):
                    continue  # the article's title
                tasks.extend(_sentence_tasks(text, canonical, (numeric, money), sentence, area, article.number))
    return tasks


def _is_heading(canonical: str, article: Span, sentence: Sentence) -> bool:
    """(一)推動高能級科創平臺提質增效。: the first sentence of the article, when it is short and ends with 。

    A paragraph without 。 has no separate title: its one sentence is the provision itself.
    """
    return sentence.span.start == article.start and canonical[sentence.span.end - 1 : sentence.span.end] == "。"


def _clauses(canonical: str, sentence: Span) -> list[Span]:
    """The clauses of a sentence, without their breaks; `;` ends a run, so it is kept as an empty clause."""
    clauses, start = [], sentence.start
    for match in CLAUSE_BREAK.finditer(canonical, sentence.start, sentence.end):
        clauses.append(Span(start, match.start()))
        if match.group() == ";":
            clauses.append(Span(match.start(), match.start()))  # a run never crosses ;
        start = match.end()
    clauses.append(Span(start, sentence.end))
    return clauses


def _sentence_tasks(
    text: str,
    canonical: str,
    masks: tuple[bytearray, bytearray],
    sentence: Sentence,
    area: Area,
    article: int | None,
) -> list[Task]:
    clauses = _clauses(canonical, sentence.span)
    numeric = [clause.end == clause.start or _is_numeric(canonical, masks, clause) for clause in clauses]
    has_numbers = any(flag and clause.end > clause.start for flag, clause in zip(numeric, clauses, strict=True))
    runs: list[list[Span]] = [[]]
    before_number: list[bool] = []
    for clause, flag in zip(clauses, numeric, strict=True):
        if flag:
            before_number.append(clause.end > clause.start)
            runs.append([])
        else:
            runs[-1].append(clause)
    before_number.append(False)
    tasks = []
    for run, conditions_number in zip(runs, before_number, strict=True):
        run = [clause for clause in run if canonical[clause.start : clause.end].strip()]
        while has_numbers and conditions_number and run and _is_condition(_words(canonical, run[-1])):
            run.pop()  # the subject, procedure or occasion of the benefit that follows
        if not run:
            continue
        span = Span(run[0].start, run[-1].end)
        words = _words(canonical, span)
        grants = _grants(words) and SEEKING.match(words) is None
        if has_numbers and not grants and TIME_FRAME.fullmatch(words):
            continue  # when the numbers apply: 2025年, 企業孵化期內
        tasks.append(
            Task(
                text=text[span.start : span.end],
                kind=TaskKind.BENEFIT if grants else TaskKind.TASK,
                span=span,
                sentence=sentence.index,
                article=article,
                area=area.number,
                department=area.answerable(article),
            )
        )
    return tasks


def _is_condition(words: str) -> bool:
    """Whether a clause before a benefit's numbers opens that benefit (see CONDITION_OPENING)."""
    if _grants(words):
        return False
    if CONDITION_SUBJECT.search(words):
        return True
    return CONDITION_PROCEDURE.search(words) is not None and VERBS.search(words) is None


def _grants(words: str) -> bool:
    """Whether words grant something to a subject (see BENEFIT)."""
    if BENEFIT.search(words):
        return True
    funds = words.find("专项资金")
    if funds >= 0 and words.find("支持", funds) >= 0:
        return True
    for clause in CLAUSE_SPLIT.split(words):
        listed = clause.find("纳入")
        if listed >= 0 and (clause.find("库", listed) >= 0 or clause.find("清单", listed) >= 0):
            return True
    return False


def _words(canonical: str, span: Span) -> str:
    return canonical[span.start : span.end]


def _is_numeric(canonical: str, masks: tuple[bytearray, bytearray], clause: Span) -> bool:
    """Whether a clause is read by the number finders rather than as (part of) a task."""
    numeric, money = masks
    if numeric.find(1, clause.start, clause.end) >= 0:
        return True
    if money.find(1, clause.start, clause.end) < 0:
        return False
    words = _words(canonical, clause)
    acts = VERBS.search(words) is not None
    return not acts or _grants(words) or BUDGET.search(words) is not None
