"""Generation recipes, one module each; importing the package registers their steps."""

from tether.generate.chunking import Chunk, chunk_text
from tether.generate.grounded_qa import GroundedQA, SnippetTasks
from tether.generate.prompt import Prompt
from tether.generate.self_instruct import SelfInstruct
from tether.generate.samplers import Attribute, Sample, SampleAttributes

__all__ = ["Attribute", "Chunk", "GroundedQA", "Prompt", "Sample", "SampleAttributes", "SelfInstruct", "SnippetTasks", "chunk_text"]
