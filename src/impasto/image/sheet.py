"""Contact sheets: labelled grids of pictures (sweeps, comparisons)."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont


def contact_sheet(
    images: Sequence[Image.Image],
    labels: Sequence[str],
    *,
    columns: int | None = None,
    cell_height: int | None = None,
    gap: int = 6,
    label_height: int = 24,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Lay ``images`` out in a grid, each with its label above it."""
    if not images:
        raise ValueError("no pictures for the sheet")
    columns = columns or min(len(images), 5)
    height = cell_height or max(im.height for im in images)
    cells = [im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height),
                                      Image.Resampling.LANCZOS) for im in images]
    width = max(c.width for c in cells)
    rows = (len(cells) + columns - 1) // columns
    sheet = Image.new("RGB", (gap + columns * (width + gap),
                              gap + rows * (label_height + height + gap)), background)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(10, label_height - 8))
    for i, (cell, label) in enumerate(zip(cells, labels, strict=True)):
        col, row = i % columns, i // columns
        x = gap + col * (width + gap)
        y = gap + row * (label_height + height + gap)
        draw.text((x + width // 2, y + label_height // 2), label, fill=(20, 20, 20), font=font,
                  anchor="mm")
        sheet.paste(cell, (x + (width - cell.width) // 2, y + label_height))
    return sheet
