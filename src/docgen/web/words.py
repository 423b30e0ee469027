"""The site's words, Indonesian first and English beside them.

Every text the pages show is here, by key; a page asks for ``words(lang)[key]``. The detail of
each verification check is the verifier's own (English) sentence, shown under its translated
name.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "words"]

LANGUAGES = ("id", "en")
"""The languages the site speaks; the first is the default."""

_WORDS: dict[str, tuple[str, str]] = {
    # the site
    "site": ("Verifikasi Surat Elektronik", "Electronic Letter Verification"),
    "ministry": ("Kementerian Perindustrian Republik Indonesia", "Ministry of Industry, Indonesia"),
    "other_language": ("English", "Bahasa Indonesia"),
    "skip": ("Langsung ke isi", "Skip to content"),
    # the letter's page
    "letter_title": ("Surat Nomor {number}", "Letter No. {number}"),
    "state_valid": ("TERBIT DAN BERLAKU", "ISSUED AND VALID"),
    "state_valid_text": (
        "Surat ini diterbitkan oleh {dg} dan tidak dicabut.",
        "This letter was issued by {dg} and has not been revoked.",
    ),
    "state_expired": ("TERBIT — MASA BERLAKU TELAH BERAKHIR", "ISSUED — VALIDITY HAS ENDED"),
    "state_expired_text": (
        "Surat ini diterbitkan oleh {dg} dan tidak dicabut, tetapi masa berlakunya berakhir "
        "pada {until}.",
        "This letter was issued by {dg} and has not been revoked, but its validity ended on "
        "{until}.",
    ),
    "state_revoked": ("DICABUT", "REVOKED"),
    "state_revoked_text": (
        "Surat ini dicabut pada {date}. Alasan: {reason}. Jangan gunakan surat ini.",
        "This letter was revoked on {date}. Reason: {reason}. Do not rely on it.",
    ),
    "details": ("Keterangan surat", "About the letter"),
    "number": ("Nomor", "Number"),
    "date": ("Tanggal", "Date"),
    "dg": ("Direktorat Jenderal", "Directorate General"),
    "service": ("Jenis surat", "Kind of letter"),
    "decision": ("Keputusan", "Decision"),
    "approved": ("Disetujui", "Approved"),
    "rejected": ("Ditolak", "Rejected"),
    "applicant": ("Pemohon", "Applicant"),
    "subject": ("Hal", "Subject (Hal)"),
    "signatory": ("Penandatangan", "Signed by"),
    "certificate": ("Nama pada sertifikat", "Name in the certificate"),
    "level": ("Tingkat tanda tangan", "Signature level"),
    "valid_until": ("Berlaku sampai", "Valid until"),
    "not_recorded": ("tidak tercatat", "not recorded"),
    "hash_title": ("Sidik jari berkas (SHA-256)", "File fingerprint (SHA-256)"),
    "hash_how": (
        "Berkas PDF yang diterbitkan memiliki sidik jari di bawah ini. Untuk membandingkan "
        "salinan Anda, hitung SHA-256 berkasnya (Linux/macOS: sha256sum surat.pdf; Windows: "
        "certutil -hashfile surat.pdf SHA256) atau unggah salinan Anda di bawah.",
        "The PDF as issued has the fingerprint below. To compare your copy, compute its "
        "SHA-256 (Linux/macOS: sha256sum letter.pdf; Windows: certutil -hashfile letter.pdf "
        "SHA256), or upload your copy below.",
    ),
    "hash_later": (
        "Salinan yang kemudian diberi cap waktu baru memiliki sidik jari lain; unggah untuk "
        "memeriksanya.",
        "A copy given new timestamps later has another fingerprint; upload it to check it.",
    ),
    "check_copy": ("Periksa salinan Anda", "Check your copy"),
    "check_copy_text": (
        "Unggah berkas PDF surat ini. Berkas tidak disimpan.",
        "Upload this letter's PDF file. The file is not kept.",
    ),
    "choose": ("Berkas PDF (paling besar {mb} MB)", "PDF file (at most {mb} MB)"),
    "submit": ("Periksa", "Check"),
    # the unknown page
    "unknown_title": ("Surat tidak dikenal", "Unknown letter"),
    "unknown_text": (
        "Tidak ada surat yang diterbitkan dengan alamat ini. Periksa kembali alamatnya atau "
        "pindai ulang kode QR. Jika surat Anda menunjukkan alamat ini, jangan gunakan surat "
        "tersebut dan hubungi penerbitnya.",
        "No letter was issued at this address. Check the address or scan the QR code again. If "
        "your letter shows this address, do not rely on it and contact its issuer.",
    ),
    # the upload page and the report
    "upload_title": ("Periksa surat elektronik", "Check an electronic letter"),
    "upload_text": (
        "Unggah berkas PDF surat yang Anda terima. Situs ini memeriksa tanda tangan "
        "elektroniknya, keutuhan isinya, penerbitnya, dan apakah surat itu tercatat dan tidak "
        "dicabut. Berkas tidak disimpan.",
        "Upload the PDF of a letter you received. This site checks its electronic signature, "
        "that it is unchanged, who issued it, and that it is registered and not revoked. The "
        "file is not kept.",
    ),
    "report_title": ("Hasil pemeriksaan", "Verification result"),
    "verdict_valid": ("SAH", "VALID"),
    "verdict_valid_text": (
        "Tanda tangan sah, isi tidak berubah sejak ditandatangani, penandatangan dipercaya, "
        "sertifikatnya tidak dicabut, dan surat tercatat sebagai diterbitkan.",
        "The signature is valid, the content is unchanged since signing, the signer is "
        "trusted, their certificate is not revoked, and the letter is registered as issued.",
    ),
    "verdict_invalid": ("TIDAK SAH", "NOT VALID"),
    "verdict_invalid_text": (
        "Pemeriksaan menemukan masalah. Jangan gunakan surat ini.",
        "Verification found a problem. Do not rely on this letter.",
    ),
    "verdict_unchecked": ("TIDAK DAPAT DIPERIKSA", "COULD NOT BE CHECKED"),
    "verdict_unchecked_text": (
        "Tidak ditemukan masalah, tetapi ada yang tidak dapat diperiksa. Jangan gunakan surat "
        "ini sampai pemeriksaan berhasil.",
        "Nothing wrong was found, but something could not be checked. Do not rely on this "
        "letter until it can be.",
    ),
    "same_file": (
        "Berkas ini adalah surat yang diterbitkan dengan kode QR ini.",
        "This file is the letter issued under this QR code.",
    ),
    "same_letter_refreshed": (
        "Berkas ini adalah surat yang diterbitkan dengan kode QR ini, dengan cap waktu yang "
        "ditambahkan kemudian.",
        "This file is the letter issued under this QR code, with timestamps added since.",
    ),
    "other_file": (
        "Berkas ini BUKAN surat yang diterbitkan dengan kode QR ini.",
        "This file is NOT the letter issued under this QR code.",
    ),
    "changed_copy": (
        "Berkas ini berasal dari surat yang diterbitkan dengan kode QR ini, tetapi DIUBAH "
        "setelah ditandatangani.",
        "This file comes from the letter issued under this QR code, but was CHANGED after signing.",
    ),
    "checks": ("Rincian pemeriksaan", "The checks"),
    "passed": ("lulus", "passed"),
    "failed": ("gagal", "failed"),
    "not_checked": ("tidak diperiksa", "not checked"),
    "file_name": ("Berkas", "File"),
    "size": ("Ukuran", "Size"),
    "check_another": ("Periksa berkas lain", "Check another file"),
    "what_valid_means": ("Arti SAH", "What VALID means"),
    "what_valid_means_text": (
        "SAH berarti: berkas ditandatangani dengan sertifikat yang berantai ke otoritas yang "
        "dipercaya situs ini; tidak ada perubahan setelah penandatanganan selain data validasi "
        "dan cap waktu; sertifikat penandatangan tidak dicabut; surat tercatat diterbitkan "
        "dan tidak dicabut; dan masa berlakunya belum berakhir. Hasil cetak tidak dapat "
        "diperiksa: periksa selalu berkas PDF atau kode QR-nya.",
        "VALID means: the file is signed with a certificate that chains to an authority this "
        "site trusts; nothing changed after signing but validation data and timestamps; the "
        "signer's certificate is not revoked; the letter is registered as issued and not "
        "revoked; and its validity period has not ended. A printout cannot be checked: always "
        "check the PDF file or its QR code.",
    ),
    "error_title": ("Tidak dapat diperiksa", "Cannot be checked"),
    "back": ("Kembali", "Back"),
    # refused uploads
    "refused_too_large": (
        "Berkas lebih besar dari batas {mb} MB; surat jauh lebih kecil.",
        "The file is larger than the limit of {mb} MB; a letter is far smaller.",
    ),
    "refused_cross_site": (
        "Unggahan dari situs lain ditolak; gunakan formulir di situs ini.",
        "Uploads from another site are refused; use the form on this site.",
    ),
    "refused_empty": (
        "Berkas kosong: pilih berkas PDF surat.",
        "The file is empty: choose the letter's PDF.",
    ),
    "refused_no_file": (
        "Tidak ada berkas yang dipilih: pilih berkas PDF surat.",
        "No file was chosen: choose the letter's PDF.",
    ),
    "refused_bad_request": (
        "Kiriman tidak dapat dibaca; coba lagi.",
        "The upload could not be read; try again.",
    ),
    "refused_rate_limited": (
        "Terlalu banyak berkas dari alamat Anda; coba lagi dalam {seconds} detik.",
        "Too many files from your address; try again in {seconds} s.",
    ),
    "refused_busy": (
        "Situs sedang memeriksa banyak berkas; coba lagi dalam satu menit.",
        "The site is verifying many files; try again in a minute.",
    ),
    "unavailable_register": (
        "Buku register tidak dapat dibaca saat ini; coba lagi beberapa menit lagi.",
        "The register cannot be read at the moment; try again in a few minutes.",
    ),
    "unavailable_verification": (
        "Pemeriksaan tidak tersedia saat ini; coba lagi beberapa menit lagi.",
        "Verification is unavailable at the moment; try again in a few minutes.",
    ),
    # the verifier's checks
    "check_file": ("Berkas", "File"),
    "check_budget": ("Batas pemeriksaan", "Verification limits"),
    "check_signature": ("Tanda tangan", "Signature"),
    "check_integrity": ("Keutuhan isi", "Integrity"),
    "check_cryptography": ("Kriptografi", "Cryptography"),
    "check_trust": ("Kepercayaan penandatangan", "Trust in the signer"),
    "check_coverage": ("Cakupan tanda tangan", "Coverage"),
    "check_structure": ("Struktur berkas", "File structure"),
    "check_modifications": ("Perubahan setelah tanda tangan", "Changes after signing"),
    "check_certification": ("Sertifikasi", "Certification"),
    "check_revocation": ("Pencabutan sertifikat", "Certificate revocation"),
    "check_signature timestamp": ("Cap waktu tanda tangan", "Signature timestamp"),
    "check_document timestamp": ("Cap waktu dokumen", "Document timestamp"),
    "check_register": ("Buku register", "Register"),
    "check_signer": ("Sertifikat penandatangan kementerian", "The ministry's signing certificate"),
    "check_validity": ("Masa berlaku surat", "Validity of the letter"),
}

_BY_LANGUAGE: dict[str, dict[str, str]] = {
    language: {key: pair[index] for key, pair in _WORDS.items()}
    for index, language in enumerate(LANGUAGES)
}


def words(language: str) -> Mapping[str, str]:
    """Every text of the site in ``language`` (``id`` or ``en``; anything else: ``id``)."""
    return _BY_LANGUAGE.get(language, _BY_LANGUAGE[LANGUAGES[0]])
