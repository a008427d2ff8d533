import RegistrarWire

/// Nacos's Page: `pageNo` from 1 and `pageSize` up to 1000 (100 by default), written as
/// `{"totalCount", "pageNumber", "pagesAvailable", "pageItems"}`.
struct Page {
    var pageNo: Int
    var pageSize: Int

    init(_ parameters: V1Parameters) throws(V1Error) {
        pageNo = max(1, try parameters.int("pageNo") ?? 1)
        pageSize = min(1000, max(1, try parameters.int("pageSize") ?? 100))
    }

    func write<Item>(_ items: [Item], into json: inout JSONWriter, _ write: (inout JSONWriter, Item) -> Void) {
        let start = min(items.count, (pageNo - 1) * pageSize)
        let slice = items[start..<min(items.count, start + pageSize)]
        json.beginObject()
        json.key("totalCount"); json.int(items.count)
        json.key("pageNumber"); json.int(pageNo)
        json.key("pagesAvailable"); json.int((items.count + pageSize - 1) / pageSize)
        json.key("pageItems"); json.beginArray()
        for item in slice { write(&json, item) }
        json.endArray()
        json.endObject()
    }
}
