"""What a sweep's numbers become for people: reports, the findings page, figures, notebooks.

- :mod:`.report`: the numbers of a sweep, as JSON and as the end-of-sweep text;
- :mod:`.findings`: the study's findings beside the paper's (``templates/``, ``paper.json``);
- :mod:`.plots`: the figures;
- :mod:`.notebooks`: running the notebooks and comparing their outputs.
"""
