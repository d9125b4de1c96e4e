"""The bench's inputs: made-up receipt texts, each one different from the last."""

from __future__ import annotations

SHOPS = ["BLUE FOX CAFE", "KEDAI RUNCIT AMAN", "MEGA HARDWARE SDN BHD", "PASAR MINI JAYA",
         "THE BOOK NOOK", "SUNRISE PHARMACY", "GOLDEN WOK", "CITY FUEL STATION"]


def receipt_text(i: int) -> str:
    """A distinct receipt per job: each job shares only the system prompt with the last one."""
    shop = SHOPS[i % len(SHOPS)]
    lines = [shop, f"NO {10 + i}, JALAN {i + 3}/2, 4{i:04d} KUALA LUMPUR", f"INVOICE {9000 + i}",
             f"DATE: {(i % 27) + 1:02d}/0{(i % 9) + 1}/2024  12:{i % 60:02d}"]
    total = 0.0
    for k in range(8 + i % 5):
        price = round(1.1 + (i * 7 + k * 13) % 40 + k * 0.35, 2)
        total += price
        lines.append(f"{k + 1} ITEM-{(i * 31 + k) % 97:02d} NASI LEMAK {k}   {price:.2f}")
    lines += [f"SUBTOTAL {total:.2f}", "GST 0.00", f"TOTAL RM {total:.2f}",
              f"CASH {total + 10:.2f}", "CHANGE 10.00", "THANK YOU PLEASE COME AGAIN"]
    return "\n".join(lines)
