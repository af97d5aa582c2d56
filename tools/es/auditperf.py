# ruff: noqa: E501 (one entry a line: the msgids are the page's sentences)
"""Spanish for branch ``auditperf`` (issues 11 and 13): how the privacy officer console shows an
audit entry purged past its retention. Merged into the catalog by
``python tools/translate.py es tools/es/auditperf.py``."""

ES = {
    "Purged past its retention": "Purgada al vencer su plazo de conservación",
    "This entry's contents (actor, subject, details) were purged past their retention; its place, time and action remain, and its leaf hash, below, still proves it.": "El contenido de esta entrada (actor, sujeto, detalles) se purgó al vencer su plazo de conservación; quedan su posición, su hora y su acción, y el resumen de su hoja, abajo, la sigue probando.",
}
