"""Generation recipes, one module each; importing the package registers their steps."""

from tether.generate.chunking import Chunk, chunk_text
from tether.generate.distill import Distill, PreferencePairs
from tether.generate.evol_instruct import EvolInstruct
from tether.generate.grounded_qa import GroundedQA, SnippetTasks
from tether.generate.prompt import Prompt
from tether.generate.refine import Refine
from tether.generate.samplers import Attribute, Sample, SampleAttributes
from tether.generate.self_instruct import SelfInstruct
from tether.generate.taxonomy import PhaseOrder, Taxonomy, TaxonomyGenerate

__all__ = [
    "Attribute",
    "Chunk",
    "Distill",
    "EvolInstruct",
    "GroundedQA",
    "PreferencePairs",
    "PhaseOrder",
    "Prompt",
    "Refine",
    "Sample",
    "SampleAttributes",
    "SelfInstruct",
    "SnippetTasks",
    "Taxonomy",
    "TaxonomyGenerate",
    "chunk_text",
]
