"""The generated arithmetic task: deterministic per seed, correct answers, disjoint splits, parsing, evaluation."""

import re

import pytest
import torch
from transformers import AutoTokenizer

from hf_archs.evaluation.arithmetic import (
    ArithmeticConfig,
    Problem,
    arithmetic_splits,
    evaluate_arithmetic,
    few_shot_prompt,
    generate_problems,
    parse_answer,
)


def test_solution_text_matches_the_documented_format():
    problem = Problem(17, (("+", 5), ("*", 3), ("-", 9)))
    assert problem.question == "17 + 5 * 3 - 9 (left to right)"
    assert problem.solution == "17 + 5 = 22; 22 * 3 = 66; 66 - 9 = 57. Answer: 57"
    assert problem.answer == 57
    assert problem.text() == "Q: 17 + 5 * 3 - 9 (left to right)\nA: 17 + 5 = 22; 22 * 3 = 66; 66 - 9 = 57. Answer: 57"


def left_to_right(question: str) -> int:
    tokens = question.replace("(left to right)", "").split()
    value = int(tokens[0])
    for op, operand in zip(tokens[1::2], tokens[2::2], strict=True):
        value = {"+": value + int(operand), "-": value - int(operand), "*": value * int(operand)}[op]
    return value


def test_generator_is_deterministic_per_seed_and_answers_are_correct():
    config = ArithmeticConfig(steps=4, max_operand=30)
    first, again = generate_problems(200, 7, config), generate_problems(200, 7, config)
    assert first == again
    assert first != generate_problems(200, 8, config)
    for problem in first:
        assert problem.answer == left_to_right(problem.question)
        assert len(problem.operations) == 4
        assert problem.answer >= 0 and all(c >= 0 for *_, c in problem.steps())
        assert problem.start <= 30 and all(b <= 30 for op, b in problem.operations if op != "*")
        # the solution's steps chain: each left operand is the previous result
        results = [int(r) for r in re.findall(r"= (\d+)", problem.solution)]
        assert results[-1] == problem.answer == parse_answer(problem.solution)
    assert len({p.question for p in first}) == 200


def test_difficulty_knobs():
    only_add = generate_problems(50, 0, ArithmeticConfig(steps=2, max_operand=5, operations=("+",)))
    assert all(op == "+" and 1 <= b <= 5 for p in only_add for op, b in p.operations)
    with pytest.raises(ValueError):
        ArithmeticConfig(operations=("/",))
    with pytest.raises(ValueError, match="distinct"):
        generate_problems(1000, 0, ArithmeticConfig(steps=1, max_operand=2, operations=("+",)))


def test_train_and_test_splits_are_disjoint_and_test_is_fixed():
    config = ArithmeticConfig(steps=2, max_operand=9)
    train0, test0 = arithmetic_splits(300, 100, config, seed=0)
    train1, test1 = arithmetic_splits(300, 100, config, seed=1)
    assert test0 == test1  # the held-out items do not depend on the training seed
    assert train0 != train1
    assert not {p.question for p in train0} & {p.question for p in test0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("17 + 5 = 22. Answer: 22", 22),
        ("answer : 57", 57),  # WordPiece decoding lowercases and spaces punctuation
        ("Answer: -3 and then Answer: 4", -3),
        ("answer: - 12", -12),
        ("no answer here", None),
        ("Answer: x", None),
    ],
)
def test_parse_answer(text, expected):
    assert parse_answer(text) == expected


class OracleLM(torch.nn.Module):
    """Completes each prompt's last question with its worked solution (wrong for every other prompt), then runs
    on with a new question: tests prompt building, left padding, slicing of new tokens and parsing."""

    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def generate(self, input_ids, attention_mask, max_new_tokens, do_sample, pad_token_id):
        assert not do_sample
        assert (attention_mask[:, -1] == 1).all(), "prompts must be left-padded"
        rows = []
        for i, ids in enumerate(input_ids):
            prompt = self.tokenizer.decode(ids[attention_mask[i].bool()], skip_special_tokens=True)
            question = re.findall(r"q : (.*?) \( left to right \)", prompt)[-1]
            answer = left_to_right(question)
            if (self.calls + i) % 2:
                answer += 1
            new = self.tokenizer(f" {answer}. answer : {answer}\nQ: 1 + 1", add_special_tokens=False)["input_ids"]
            rows.append(torch.cat([ids, torch.tensor(new[:max_new_tokens])]))
        self.calls += len(rows)
        width = max(len(r) for r in rows)
        return torch.stack([torch.nn.functional.pad(r, (0, width - len(r)), value=pad_token_id) for r in rows])


def test_evaluate_arithmetic_scores_exact_match(minilm_dir):
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    train, test = arithmetic_splits(2, 10, ArithmeticConfig(steps=2, max_operand=9), seed=0)
    assert few_shot_prompt(test[0], train).count("Q:") == 3
    out = evaluate_arithmetic(OracleLM(tokenizer), tokenizer, test, train, max_new_tokens=30, batch_size=4)
    assert out["items"]["accuracy"] == [1.0, 0.0] * 5
    assert out["metrics"]["accuracy"] == 0.5
    assert tokenizer.padding_side == "right"  # restored


def test_prompts_end_with_the_prompt_not_an_end_of_text_token(minilm_dir):
    from hf_archs.evaluation.arithmetic import _tokenize_prompts

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    tokenizer.padding_side = "left"
    inputs = _tokenize_prompts(tokenizer, ["Q: 1 + 1 (left to right)\nA:", "Q: 12 * 3 - 4 (left to right)\nA:"])
    assert "token_type_ids" not in inputs
    ids = inputs["input_ids"]
    assert not torch.isin(ids, torch.tensor([tokenizer.sep_token_id, tokenizer.cls_token_id])).any()
    assert (ids[:, -1] == ids[0, -1]).all() and tokenizer.decode(ids[0, -1:]) == ":"
