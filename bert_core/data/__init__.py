"""Framework-free BERT pre-training data: text files to masked-LM + next-sentence-prediction examples.

Input format (Google's ``create_pretraining_data.py``): plain text files, one sentence per line, documents
separated by blank lines. The end of a file also ends a document.

Algorithm, per document (see ``instances`` and ``masking`` for the details):

1. Sentences are tokenized (any tokenizer with ``tokenize`` / ``convert_tokens_to_ids``; empty ones dropped).
2. A target length is ``max_seq_length - 3``, or with probability ``short_seq_prob`` a random length in
   ``[2, max_seq_length - 3]``. Sentences gather into a chunk until the chunk reaches it; the chunk splits at a
   random sentence boundary into A and B.
3. With probability ``nsp_probability`` (and always for a one-sentence chunk) B is replaced by sentences of
   another document from a random start (``next_sentence_label`` 1), and the chunk's unused sentences are put
   back; otherwise B is the true continuation (label 0).
4. The pair is truncated to ``max_seq_length - 3`` tokens, one token at a time from the longer side, front or
   back at random, and laid out as ``[CLS] A [SEP] B [SEP]`` (``token_type_ids`` 0 then 1), padded.
5. Masking (dynamic: redrawn per epoch from ``(seed, epoch)``): ``min(max_predictions_per_seq,
   max(1, round(n * masked_lm_prob)))`` non-special positions (optionally whole words) are chosen; 80% become
   [MASK], 10% a random id, 10% stay. ``labels`` hold the original ids there and -100 elsewhere.

Streaming: files are opened one after another and read line by line, the tokenized documents live in a bounded
window (``document_window``, default 1000, half of it read ahead) from which random segments are drawn, examples
pass through a bounded shuffle buffer (``shuffle_buffer_size``), and are yielded one by one, so the corpus may be
far larger than memory. Random next segments therefore come from nearby documents, not from the whole corpus as
in Google's script (which also shuffled whole documents first; shuffle the file list for that).

Packing (``bert_core.data.packing``): ``packed_batches`` puts up to 3 examples into each row (block-diagonal
attention from ``example_ids``, positions restarting per example, NSP per example at its [CLS]), for the same loss
with far less padding.

Determinism: all randomness comes from numpy Generators seeded by ``(seed, stream[, epoch])``; the same seed,
epoch and input give identical examples.

Example::

    from bert_core.data import PretrainingExamples, batches
    examples = PretrainingExamples(["wiki_00.txt", "wiki_01.txt"], tokenizer, max_seq_length=128, seed=0)
    for epoch in range(3):
        for batch in batches(examples.epoch(epoch), 32, drop_remainder=True):
            ...  # batch["input_ids"]: int32 [32, 128]
"""

from bert_core.data.documents import TokenizedDocument, read_documents, tokenize_document, tokenize_documents
from bert_core.data.instances import Instance, iter_instances, truncate_seq_pair, truncated_lengths
from bert_core.data.masking import IGNORE_INDEX, MaskingConfig, choose_positions, mask_tokens
from bert_core.data.pipeline import FIELDS, PretrainingExamples, batches, create_pretraining_examples, shuffled
from bert_core.data.packing import (PACKED_FIELDS, attention_mask_from_example_ids, pack_examples, pack_lengths,
                                    pack_row, packed_batches)

__all__ = ["FIELDS", "IGNORE_INDEX", "Instance", "MaskingConfig", "PACKED_FIELDS", "PretrainingExamples",
           "TokenizedDocument", "attention_mask_from_example_ids", "batches", "choose_positions",
           "create_pretraining_examples", "iter_instances", "mask_tokens", "pack_examples", "pack_lengths",
           "pack_row", "packed_batches", "read_documents", "shuffled", "tokenize_document", "tokenize_documents",
           "truncate_seq_pair", "truncated_lengths"]
