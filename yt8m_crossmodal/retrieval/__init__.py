"""Catalogue search: exact and approximate (faiss) retrieval, re-ranking.

- :mod:`.folder`: the index folder format;
- :mod:`.catalogue`: :class:`Catalogue` and :func:`load_catalogue`;
- :mod:`.catalogue_writer`: :class:`CatalogueWriter`, :func:`write_catalogue`;
- :mod:`.exact`: exact top-k; :mod:`.ann`: faiss indexes;
- :mod:`.alignment`: diagonal timeline alignment; :mod:`.rerank`: temporal
  re-ranking and segment localization; :mod:`.results`: one query's results;
- :mod:`.stretches`: the catalogue's video stretches that fit the segments of
  a long track; :mod:`.storyboard`: picks across segments;
  :mod:`.soundtracks`: where in a song to start for a picture track.

All similarities are inner products of unit vectors (cosine).
"""

from yt8m_crossmodal.retrieval.ann import (build_index, index_params,
                                           load_index, save_index, search,
                                           search_refined, set_search_params)
from yt8m_crossmodal.retrieval.catalogue import (Catalogue, gather_rows,
                                                 load_catalogue)
from yt8m_crossmodal.retrieval.catalogue_writer import (CatalogueWriter,
                                                        write_catalogue)
from yt8m_crossmodal.retrieval.exact import exact_search
from yt8m_crossmodal.retrieval.folder import META_FILE, MODALITIES
from yt8m_crossmodal.retrieval.rerank import (RerankResult, localize,
                                              rerank_by_timeline)
from yt8m_crossmodal.retrieval.results import ranked_results

__all__ = [
    "MODALITIES", "META_FILE", "Catalogue", "CatalogueWriter",
    "write_catalogue", "load_catalogue", "gather_rows", "exact_search",
    "build_index", "index_params", "set_search_params", "search",
    "search_refined",
    "save_index", "load_index", "RerankResult", "rerank_by_timeline",
    "localize", "ranked_results",
]
