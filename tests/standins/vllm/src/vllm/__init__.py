"""STAND-IN for vLLM used by ccprov's tests: see tests/standins/vllm/README.md."""

__version__ = "0.12.0"
STANDIN = True
