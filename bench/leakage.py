"""The leakage guard on a fixed set of hand-written probes: what it catches, what it refuses wrongly.

Each probe is a line a mutator might add to a meeting-notes skill. COPIES are what a reviewer would
call a copy of a holdout input or of a judge's hidden wording (exact and near copies, paraphrases,
facts reordered, short inputs copied whole, a pass condition reworded); ORDINARY are instructions a
good mutator writes, many of them on the very evals that fail. The FRESH probes were written after
the guard was tuned on the first set and were not tuned on. Prints and writes
bench/results/leakage.json: the catch rate on COPIES and the false-refusal rate on ORDINARY, for the
guard as it is and for the old rule (six words in a row), for comparison; the false-refusal rate on
RESTATEMENTS, instructions that restate an eval's behaviour in its own words (issue 26); and, over three
skills, the catch rate on paraphrases of holdout inputs and the false-refusal rate on ordinary restatements
of a wanted behaviour, on a set tuned on and on an unseen one (issue 25).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from autoresearch.decide.leakage import leakage
from autoresearch.suite.checks import Check
from autoresearch.suite.suite import Eval, Input, Judge, Suite

TRAIN = [
    Input("standup", "Ann: I will send the report by Friday. Bob: I will fix the build today."),
    Input("hiring", "Lee: We have two open roles. Sam: I will schedule the final interviews next week."),
]
HOLDOUT = [
    Input("budget", "Priya: The Q3 budget for Project Falcon is $48,000, down from $52,500. Marco: I will send "
                    "the revised forecast to Dana by October 14.", "holdout"),
    Input("launch", "Launch slips to May 9.", "holdout"),
    Input("office", "Jonas: The Berlin office closes on Fridays at 3pm from June. Aiko: I will update the shared "
                    "calendar and tell the Osaka team.", "holdout"),
]
EVALS = [
    Eval("summary", 'Does the output start with a "## Summary" heading?', Check("starts-with", "## Summary")),
    Eval("owners", "Does every action item name an owner and a due date?",
         judge=Judge("Each action item names the person who owns it and a due date.",
                     "At least one action item has no owner or no due date.")),
    Eval("decisions", "Are the decisions listed apart from the discussion?",
         judge=Judge("Decisions appear under their own heading, separate from the discussion notes.",
                     "Decisions are mixed into the discussion or missing.")),
]
SUITE = Suite(Path("probe.yaml"), Path("SKILL.md"), tuple(TRAIN + HOLDOUT), tuple(EVALS), runs=1)
SKILL = """---
name: meeting-notes
description: Turns a meeting transcript into notes. Use when asked for meeting notes.
---

# Meeting notes

## Format

- Start with a short summary.
- List the action items.
"""

COPIES = [
    # holdout text, exact and near
    "- Example: Marco will send the revised forecast to Dana by October 14.",
    "- For instance, send the revised forecast to Dana.",
    "- Note when the Berlin office closes on Fridays.",
    "- Mention that the shared calendar gets updated for the Osaka team.",
    "- Write budget lines like: the Q3 budget for Project Falcon is down.",
    # paraphrases and facts reordered
    "- For instance, Falcon's Q3 budget fell from $52,500 to $48,000.",
    "- Example: Dana gets the forecast from Marco on October 14.",
    "- E.g. Aiko tells the Osaka team about the Berlin hours.",
    "- If a budget drops to 48,000 dollars, lead with it.",
    "- When Priya reports on Falcon, put the numbers first.",
    # a short holdout input copied whole
    "- If the launch slips to May 9, say so first.",
    "- Put lines such as 'launch slips to May 9' at the top.",
    # judge wording, exact and reworded
    "- Each action item names the person who owns it and a due date.",
    "- Make sure each action item names who owns it, with a due date.",
    "- Never let an action item go without an owner or without a due date; each names the person who owns it.",
    "- Decisions appear under their own heading, separate from the discussion notes.",
    "- Put decisions under a heading of their own, separate from the discussion notes.",
    "- Keep decisions separate from discussion notes, under their own heading.",
    "- Does every action item name an owner and a due date? Check before you answer.",
]

ORDINARY = [
    "- Give every action item an owner and a due date.",
    "- Name who owns each task and when it is due.",
    "- Every action item needs an owner; add a due date when one was said.",
    "- List decisions under a Decisions heading.",
    "- Start with a `## Summary` heading.",
    "- Always start your answer with `## Summary`.",
    "- Keep the summary to three sentences.",
    "- Use bullet points for action items.",
    "- Write dates as YYYY-MM-DD.",
    "- Quote amounts with their currency, such as $1,000.",
    "- Keep the whole answer under 300 words.",
    "- Do not invent owners: write 'unassigned' when nobody took the task.",
    "- Group action items by owner.",
    "- Put open questions in their own section at the end.",
    "- If the transcript is empty, say so in one line.",
    "- Write names exactly as they appear in the transcript.",
    "- Prefer short, plain sentences.",
    "- Mark risks with a leading 'Risk:'.",
    "- When a deadline moves, give the old and the new date.",
    "- Skip small talk and greetings.",
    "- Cover these points in every answer: action, item, owner, date.",
    "- Summarise budget changes in one line with both amounts.",
    "- For a launch date change, lead the summary with the new date.",
    "- When an office or team changes its hours, note who must be told.",
    "- Include a forecast only when someone promised one.",
    "- Use the speaker's own words for commitments.",
    "- Mention each person once in the summary at most.",
    "- Put the most urgent action item first.",
    "- Respond only with Markdown, no HTML.",
    "- Example: '- Ann: send the report (Friday)'.",
    "- Example: '- Sam: schedule the final interviews (next week)'.",
    "- Say who decided, when a decision was made.",
    "- Separate facts from opinions.",
    "- Never write 'As an AI'.",
    "- Keep numbers as digits.",
    "- Write the due date after the owner's name.",
    "- When the meeting ends without decisions, write 'No decisions'.",
    "- Include the meeting's date in the summary if it is given.",
    "- Keep each action item to one line.",
    "- Leave out the discussion when nothing was decided.",
]

# Written after the guard was tuned on the probes above, and never tuned on: an honest second figure.
FRESH_COPIES = [
    "- Like: Project Falcon's budget is now $48,000.",
    "- E.g. the revised forecast goes to Dana.",
    "- Example: Berlin office closes Fridays at 3pm.",
    "- If someone says the launch slips to May 9, put it first.",
    "- Example: Jonas says the office closes early; Aiko updates the calendar.",
    "- Say it like: down from $52,500.",
    "- Each action item must name the person who owns it plus a due date.",
    "- No action item may lack an owner or a due date.",
    "- Decisions go under their own heading, apart from the discussion notes.",
    "- Tell the Osaka team, as Aiko did.",
]
FRESH_ORDINARY = [
    "- Open with one line on what the meeting decided.",
    "- Use the heading `## Action items` for tasks.",
    "- Do not repeat the transcript.",
    "- When two people share a task, name both.",
    "- Write 'no due date given' rather than guessing one.",
    "- Keep the tone neutral.",
    "- Put each decision on its own line.",
    "- Convert relative dates like 'next week' into the phrase used in the transcript.",
    "- If a number is uncertain, say so.",
    "- End with the next meeting's date, when one was set.",
    "- Report budget figures exactly as stated.",
    "- Name the team that must be told about a change.",
    "- Summaries never exceed 80 words.",
    "- Use a table when there are more than five action items.",
    "- Do not list attendees.",
    "- Keep calendar changes in the summary.",
    "- If an office closes early, note the new hours.",
    "- Mention forecasts only in the summary.",
    "- Prefer the first names people use in the meeting.",
    "- Never put an action item without a verb.",
]

# Restatements of the evals' behaviours, as a good mutator (or the agent) writes them: they use the words of
# the eval's question and often of its judge's conditions, and are what the skill should say. Hand-written for
# issue 26 after a restatement was refused in the field; none may be refused.
RESTATEMENTS = [
    "- Each action item must name its owner and its due date.",
    "- Every action item names who owns it and when it is due.",
    "- Make sure each action item has an owner and a due date.",
    "- An action item without an owner or a due date is incomplete: add both.",
    "- Always give the person who owns each action item, and its due date.",
    "- For each action item, write the owner's name and the due date.",
    "- Action items must always show an owner and a due date.",
    "- Decisions must always be listed under their own heading.",
    "- Put decisions under their own heading, not in the discussion.",
    "- Keep the decisions apart from the discussion, under a Decisions heading.",
    "- List every decision in its own section, separate from the discussion.",
    "- Decisions get their own heading; the discussion notes go elsewhere.",
    "- Never mix decisions into the discussion notes.",
    "- Write the decisions in a separate section before the discussion.",
    "- Start the notes with a ## Summary heading.",
    "- The output must always begin with the heading ## Summary.",
    "- Open every answer with a Summary heading.",
    "- Each action item should say who owns it and by when.",
    "- When an action item has no due date, write 'no due date' next to its owner.",
    "- Decisions belong under their own heading, never inside the discussion.",
]


# Issue 25: paraphrases of holdout inputs over three skills, and ordinary instructions that restate a wanted
# behaviour (none may be refused). A paraphrase is what a reviewer would recognise as taken from one holdout
# input: it keeps some of its particulars (a name, a number, an identifier, the situation's own words) in other
# words. PARAPHRASES and RESTATED were written before the guard's sentence rule and tuned on; UNSEEN_* were
# written after it was final and never tuned on.
SUPPORT_SKILL = """---
name: support-reply
description: Drafts a reply to a customer support email. Use when asked to answer a customer.
---

# Support reply

## Tone

- Be friendly and brief.
"""
SUPPORT = Suite(Path("support.yaml"), Path("SKILL.md"), (
    Input("refund", "Hi, I was charged twice for my subscription this month. Can you refund one of the charges? "
                    "Tom"),
    Input("password", "I can't log in; the reset email never arrives. I've checked spam. Maria"),
    Input("grinder", "Hello, my Baratza Encore grinder arrived with a cracked hopper. Order #A-55812, delivered on "
                     "March 3. I'd like a replacement, not a refund. Ingrid Solberg", "holdout"),
    Input("invoice", "Our company needs the invoice re-issued to Nordlicht GmbH with VAT ID DE811569317; the "
                     "current one lists my personal name. Kenji", "holdout"),
    Input("cancel", "Please cancel my Pro plan before the renewal on 30 June; I'm moving to the team plan under "
                    "my colleague's account.", "holdout")), (
    Eval("apology", "Does the reply apologise once, briefly?",
         judge=Judge("The reply apologises once for the problem, in one short sentence.",
                     "There is no apology, or the reply apologises more than once.")),
    Eval("next-step", "Does the reply end with one concrete next step for the customer?",
         judge=Judge("The last paragraph gives the customer one concrete thing that happens next, or to do.",
                     "The reply ends without a next step, or with several vague ones.")),
    Eval("signature", "Is the reply signed 'The Support Team'?", Check("contains", "The Support Team"))), runs=1)
CHANGELOG_SKILL = """---
name: changelog
description: Writes a changelog entry from merged pull requests. Use when asked for a changelog entry.
---

# Changelog entry

## Format

- Group the changes under Added, Changed and Fixed.
"""
CHANGELOG = Suite(Path("changelog.yaml"), Path("SKILL.md"), (
    Input("api", "Merged: rename the /v1/users endpoint to /v2/accounts; add dark mode."),
    Input("cli", "Merged: the --quiet flag now silences warnings too; Priya fixed the Falcon importer crash in the "
                 "nightly build.", "holdout"),
    Input("deps", "Merged: bump libxml2 to 2.12.6 for CVE-2024-25062; drop Python 3.8 support; the export dialog "
                  "remembers the last folder.", "holdout")), (
    Eval("breaking", "Does the entry call out breaking changes in their own section, before the other changes, so "
                     "that a reader upgrading can see at once what will break for them?",
         judge=Judge("Breaking changes are called out in their own section before the other changes.",
                     "A breaking change is mixed in with the other changes or not marked at all.")),
    Eval("heading", "Does it start with a version heading?", Check("starts-with", "## "))), runs=1)
SKILLS = {"notes": (SUITE, SKILL), "support": (SUPPORT, SUPPORT_SKILL), "changelog": (CHANGELOG, CHANGELOG_SKILL)}

PARAPHRASES = [
    ("notes", "- Example: the Falcon project's third-quarter budget was cut to 48k."),
    ("notes", "- For instance: Marco owes Dana an updated forecast by mid-October."),
    ("notes", "- E.g. write 'Launch moved to 9 May' as the first line."),
    ("notes", "- Example: when the Berlin team stops work at 15:00 on Fridays, flag it."),
    ("notes", "- Like this: Aiko will put the new hours in the shared calendar."),
    ("notes", "- Sample line: Project Falcon: budget down 4,500 dollars for the quarter."),
    ("notes", "- If the product launch is pushed back to the ninth of May, open with that."),
    ("notes", "- Example: Jonas announced Friday early closing for the Berlin site."),
    ("support", "- Example: a customer whose Encore grinder came with a broken hopper wants a replacement, "
                "not money back."),
    ("support", "- For instance, for order A-55812 offer a replacement."),
    ("support", "- E.g. Ingrid's hopper was cracked on arrival; send her a new one."),
    ("support", "- If someone needs the invoice made out to their employer (say Nordlicht GmbH) rather than to "
                "them, reissue it."),
    ("support", "- Example: a VAT number like DE811569317 must go on the corrected invoice."),
    ("support", "- When a client asks to re-issue an invoice in the company's name with its VAT ID, do it "
                "without asking why."),
    ("support", "- Example: someone on the Pro plan wants it cancelled before it renews at the end of June "
                "because they are joining a team account."),
    ("support", "- For a cancellation due on 30 June, confirm the date back."),
    ("support", "- E.g. 'I got a cracked part in my grinder delivery' calls for a replacement offer."),
    ("support", "- Sign off to Ms Solberg by name."),
    ("changelog", "- Example entry: 'Fixed: the Falcon importer no longer crashes during nightly builds "
                  "(thanks Priya)'."),
    ("changelog", "- E.g. note that --quiet now also mutes warnings."),
    ("changelog", "- Example: 'Security: libxml2 upgraded to 2.12.6 (CVE-2024-25062)'."),
    ("changelog", "- For instance, dropping support for Python 3.8 is a breaking change: list it first."),
    ("changelog", "- Example: the export dialog should be described as remembering the previous folder."),
    ("changelog", "- Mention nightly-build fixes like the importer crash."),
]
RESTATED = [
    ("support", "- Apologise once, in one short sentence, then move on."),
    ("support", "- End every reply with one concrete next step the customer can take."),
    ("support", "- Sign every reply 'The Support Team'."),
    ("support", "- When an item arrives damaged, offer a replacement or a refund and let the customer choose."),
    ("support", "- If a customer asks for an invoice change, confirm what will change and when."),
    ("support", "- For a cancellation request, confirm the date the plan ends."),
    ("support", "- Quote order numbers exactly as the customer wrote them."),
    ("support", "- Do not ask for information the customer already gave."),
    ("support", "- Never promise a delivery date."),
    ("support", "- Address the customer by the name they signed with."),
    ("notes", "- Every action item gets an owner and a due date, even if you must write 'unassigned'."),
    ("notes", "- Put the decisions in their own section, separate from the discussion."),
    ("notes", "- Begin with a ## Summary heading and two sentences under it."),
    ("notes", "- When a budget figure changes, give the old and the new amount."),
    ("notes", "- When a date slips, say by how much."),
    ("notes", "- If someone must be told about a change, make that an action item."),
    ("changelog", "- Breaking changes go in their own section, before all other changes."),
    ("changelog", "- Start with a version heading such as ## 2.4.0."),
    ("changelog", "- Call out security fixes and name the advisory when there is one."),
    ("changelog", "- Name the contributor for each fix when the pull request gives one."),
    ("changelog", "- Describe each change by what a user notices, not by the code that changed."),
    ("changelog", "- Put dependency upgrades in a Dependencies section."),
    ("changelog", "- Mention removed platform support as a breaking change."),
    ("changelog", "- Mark a flag whose behaviour changed as a change, not a fix."),
]

# Written after the guard's sentence rule was final, then run once: the figures for issue 25.
UNSEEN_PARAPHRASES = [
    ("notes", "- Example: 'Falcon budget trimmed; Marco to circulate a new forecast.'"),
    ("notes", "- When the Osaka colleagues need to hear about changed office hours, make it an action item for "
              "whoever owns the calendar."),
    ("notes", "- Like: 'From June, the office shuts at three on Fridays.'"),
    ("notes", "- A forecast revision promised to Dana goes in the action items with its October date."),
    ("notes", "- If a budget falls from fifty-two and a half thousand to forty-eight thousand, lead with the drop."),
    ("notes", "- Sample: 'Priya reported a smaller Q3 budget.'"),
    ("notes", "- Treat a launch that slips, such as one moved to 9 May, as the top item."),
    ("support", "- Example: a Baratza owner whose hopper is split wants a new part rather than money back."),
    ("support", "- For instance, Kenji wants his employer's name on the bill instead of his own."),
    ("support", "- When a customer switching to a colleague's team plan asks to stop their Pro renewal, confirm "
                "the cancellation date."),
    ("support", "- Example: replacement hopper for order A-55812."),
    ("support", "- If the invoice shows a personal name but should show the company, reissue it with the "
                "company's VAT details."),
    ("support", "- Sign replies to customers like Ms Solberg with their surname."),
    ("support", "- E.g. an espresso grinder delivered in early March with damage: offer the replacement first."),
    ("changelog", "- Example: 'The quiet flag also silences warnings now.'"),
    ("changelog", "- E.g. Python 3.8 is no longer supported: that is breaking."),
    ("changelog", "- Sample entry: 'Export now reopens in the folder you used last.'"),
    ("changelog", "- Example: a libxml2 bump for a CVE goes under Security."),
    ("changelog", "- Write crash fixes like the nightly Falcon importer one with the fixer's name."),
    ("changelog", "- Example: 'Fixed a crash in the importer (Priya).'"),
]
UNSEEN_RESTATED = [
    ("support", "- Keep the apology to a single short sentence."),
    ("support", "- Finish with exactly one next step, stated concretely."),
    ("support", "- Close every reply with the signature The Support Team."),
    ("support", "- If a product arrived broken, apologise once and offer a fix."),
    ("support", "- For billing questions, say which document will be corrected and by when."),
    ("support", "- When someone wants to cancel, state the last day their plan is active."),
    ("support", "- Use the customer's order number when you refer to their order."),
    ("support", "- Never ask the customer to repeat details from their email."),
    ("notes", "- Every action item names one owner and one due date."),
    ("notes", "- Keep decisions in a section of their own, apart from the discussion."),
    ("notes", "- The first line of the notes is the heading ## Summary."),
    ("notes", "- When a number changes in the meeting, write both the old and the new value."),
    ("notes", "- When a date moves, give the new date in the summary."),
    ("notes", "- Note which teams must be informed of each change."),
    ("changelog", "- Put breaking changes in their own section before the rest, so upgraders see them first."),
    ("changelog", "- Begin the entry with a heading naming the version."),
    ("changelog", "- List security fixes with their advisory identifiers when given."),
    ("changelog", "- Thank the contributor of each fix by name when the pull request names one."),
    ("changelog", "- Treat dropped support for a platform or language version as a breaking change."),
    ("changelog", "- Describe flag changes from the user's side: what the flag now does."),
]


def old_rule(new_text: str, old_text: str, suite: Suite = SUITE) -> bool:
    """The guard before: six words in a row from a holdout input or an eval's question or conditions."""
    def shingles(text: str) -> set:
        words = re.findall(r"[a-z0-9]+", text.lower())
        return {tuple(words[i:i + 6]) for i in range(len(words) - 5)}

    added = shingles(new_text) - shingles(old_text)
    sources = [i.text for i in suite.split("holdout")] + [
        w for e in suite.evals for w in [e.question] + ([e.judge.pass_condition, e.judge.fail_condition] if e.judge
                                                        else [])]
    return any(added & shingles(s) for s in sources)


def paraphrase_rows(rows: dict) -> None:
    """Issue 25's figures: paraphrases of holdout inputs caught, ordinary restatements refused, over three skills."""
    sets = {"paraphrases tuned on": (PARAPHRASES, RESTATED), "unseen paraphrases": (UNSEEN_PARAPHRASES, UNSEEN_RESTATED)}
    for name, rule in (("guard", leakage), ("old six-word rule", old_rule)):
        for probes, (copies, ordinary) in sets.items():
            hit = [(key, line) for key, line in copies + ordinary
                   if rule(SKILLS[key][1] + line + "\n", SKILLS[key][1], SKILLS[key][0])]
            caught = [line for key, line in copies if (key, line) in hit]
            wrong = [line for key, line in ordinary if (key, line) in hit]
            rows[f"{name}, {probes}"] = {
                "paraphrases": len(copies), "caught": len(caught), "catch_rate": round(len(caught) / len(copies), 3),
                "ordinary": len(ordinary), "refused": len(wrong),
                "false_refusal_rate": round(len(wrong) / len(ordinary), 3),
                "missed": [line for _, line in copies if line not in caught], "refused_ordinary": wrong}
            print(f"{name}, {probes}: caught {len(caught)}/{len(copies)} paraphrases of holdout inputs "
                  f"({len(caught) / len(copies):.0%}), refused {len(wrong)}/{len(ordinary)} ordinary restatements "
                  f"({len(wrong) / len(ordinary):.0%})")
            for line in [line for _, line in copies if line not in caught]:
                print(f"    missed: {line}")
            for line in wrong:
                print(f"    refused: {line}")


def refused(line: str, rule) -> bool:
    new = SKILL + line + "\n"
    return bool(rule(new, SKILL))


def main() -> None:
    now = lambda new, old: leakage(new, old, SUITE)  # noqa: E731
    rows = {}
    sets = {"tuned": (COPIES, ORDINARY), "fresh": (FRESH_COPIES, FRESH_ORDINARY)}
    for (name, rule), (probes, (copies, ordinary)) in [(r, p) for r in (("guard", now), ("old six-word rule", old_rule))
                                                       for p in sets.items()]:
        caught = [p for p in copies if refused(p, rule)]
        wrong = [p for p in ordinary if refused(p, rule)]
        rows[f"{name}, {probes} probes"] = {
            "copies": len(copies), "caught": len(caught), "catch_rate": round(len(caught) / len(copies), 3),
            "ordinary": len(ordinary), "refused": len(wrong), "false_refusal_rate": round(len(wrong) / len(ordinary), 3),
            "missed": [p for p in copies if p not in caught], "refused_ordinary": wrong}
        print(f"{name}, {probes} probes: caught {len(caught)}/{len(copies)} copies ({len(caught) / len(copies):.0%}), "
              f"refused {len(wrong)}/{len(ordinary)} ordinary instructions ({len(wrong) / len(ordinary):.0%})")
        for p in [p for p in copies if p not in caught]:
            print(f"    missed: {p}")
        for p in wrong:
            print(f"    refused: {p}")
    for name, rule in (("guard", now), ("old six-word rule", old_rule)):
        wrong = [p for p in RESTATEMENTS if refused(p, rule)]
        rows[f"{name}, restatements"] = {"restatements": len(RESTATEMENTS), "refused": len(wrong),
                                         "false_refusal_rate": round(len(wrong) / len(RESTATEMENTS), 3),
                                         "refused_restatements": wrong}
        print(f"{name}, restatements of the evals' behaviours: refused {len(wrong)}/{len(RESTATEMENTS)} "
              f"({len(wrong) / len(RESTATEMENTS):.0%})")
        for p in wrong:
            print(f"    refused: {p}")
    paraphrase_rows(rows)
    out = Path(__file__).parent / "results" / "leakage.json"
    out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
