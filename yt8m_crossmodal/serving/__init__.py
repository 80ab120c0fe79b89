"""Serving: the SavedModel signatures, writing an export and loading one.

- :mod:`.signatures`: signature names and :class:`SignatureBuilder`;
- :mod:`.exporter`: ``yt8m-export``'s library (:func:`export_model_dir`);
- :mod:`.loading`: :class:`LoadedExport` (a client's view of an export);
- :mod:`.encode`: the one encoder -> encode-function adapter;
- :mod:`.saved_model_info`: SignatureDefs and op types of a written model.
"""
