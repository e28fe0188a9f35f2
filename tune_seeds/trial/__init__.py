"""One seeded fine-tuning trial, without Ray: task, data, model, seeds, optimizer, loop.

- :mod:`.config`: the trial's hyper-parameters (everything but the two seeds);
- :mod:`.tasks`: the GLUE tasks, their labels and metrics;
- :mod:`.data`: reading, tokenizing and batching a task's data;
- :mod:`.model`: finding and building the pretrained model;
- :mod:`.seeds`: the weight-initialization and data-order seeds and their streams;
- :mod:`.optim`: the optimizer and learning-rate schedule;
- :mod:`.precision`: fp32, bf16 or fp16, and what ``auto`` picks;
- :mod:`.training`: the training loop, its learning curve and exact resume.
"""
